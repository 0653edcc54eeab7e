"""Shipyard: a self-hosted machine-learning platform. The SDK is the public API."""

from __future__ import annotations

from shipyard.sdk.alarms import Alarm
from shipyard.sdk.client import Session
from shipyard.sdk.lineage import LineageGraph
from shipyard.sdk.logs import LogGroup
from shipyard.sdk.metrics import Metrics
from shipyard.sdk.pipelines import (
    CacheConfig,
    ConditionAnd,
    ConditionEquals,
    ConditionGreaterThan,
    ConditionGreaterThanOrEqualTo,
    ConditionIn,
    ConditionLessThan,
    ConditionLessThanOrEqualTo,
    ConditionNot,
    ConditionOr,
    ConditionStep,
    CreateModelStep,
    DeployStep,
    ExecutionVariables,
    FailStep,
    Join,
    JsonGet,
    ParameterBoolean,
    ParameterFloat,
    ParameterInteger,
    ParameterString,
    Pipeline,
    PipelineExecution,
    ProcessingStep,
    PropertyFile,
    RegisterModelStep,
    RetryPolicy,
    TrainingStep,
    TransformStep,
    TuningStep,
)
from shipyard.sdk.processing import (
    ProcessingInput,
    ProcessingJob,
    ProcessingOutput,
    ScriptProcessor,
    SQLProcessor,
)
from shipyard.sdk.registry import ModelPackage, ModelPackageGroup
from shipyard.sdk.serving import AsyncInference, Model, Predictor
from shipyard.sdk.topics import Queue, Topic
from shipyard.sdk.training import Estimator, TrainingJob
from shipyard.sdk.transform import Transformer, TransformJob
from shipyard.sdk.tuning import (
    CategoricalParameter,
    ContinuousParameter,
    HyperparameterTuner,
    IntegerParameter,
    TuningJob,
    WarmStartConfig,
)

__version__ = "0.1.0"

__all__ = [
    "Alarm",
    "AsyncInference",
    "CacheConfig",
    "CategoricalParameter",
    "ConditionAnd",
    "ConditionEquals",
    "ConditionGreaterThan",
    "ConditionGreaterThanOrEqualTo",
    "ConditionIn",
    "ConditionLessThan",
    "ConditionLessThanOrEqualTo",
    "ConditionNot",
    "ConditionOr",
    "ConditionStep",
    "ContinuousParameter",
    "CreateModelStep",
    "DeployStep",
    "Estimator",
    "ExecutionVariables",
    "FailStep",
    "HyperparameterTuner",
    "IntegerParameter",
    "Join",
    "JsonGet",
    "LineageGraph",
    "LogGroup",
    "Metrics",
    "Model",
    "ModelPackage",
    "ModelPackageGroup",
    "ParameterBoolean",
    "ParameterFloat",
    "ParameterInteger",
    "ParameterString",
    "Pipeline",
    "PipelineExecution",
    "Predictor",
    "ProcessingInput",
    "ProcessingJob",
    "ProcessingOutput",
    "ProcessingStep",
    "PropertyFile",
    "Queue",
    "RegisterModelStep",
    "RetryPolicy",
    "SQLProcessor",
    "ScriptProcessor",
    "Session",
    "Topic",
    "TrainingJob",
    "TrainingStep",
    "TransformJob",
    "TransformStep",
    "Transformer",
    "TuningJob",
    "TuningStep",
    "WarmStartConfig",
    "__version__",
]
