"""Hyperparameter tuning: how well the strategies search, and what a trial costs.

One live `shipyard up` runs real tuning jobs (every trial a training job) of XGBoost on a
generated binary problem, validation AUC as the objective:

1. Bayesian (TPE) against Random at the same budget, over 5 seeds: the median best
   objective of each, and the median best-so-far curve. Goal: Bayesian beats Random.
2. Hyperband against no early stopping: a Hyperband job and a Random job of the same
   seed draw the same configurations in the same order, the Random one training each for
   Hyperband's whole budget of rounds. The target is a top-decile model: the 90th
   percentile of the objectives of the Random job's 40 trials. Measured: the boosting
   rounds each job spends until its best reaches the target (Hyperband may run four times
   as many trials, since short ones are what it makes cheap), over 7 seeds: the median
   rounds of each and their ratio, and the median of the seeds' own ratios. Goal:
   Hyperband needs >= 3x fewer rounds.
3. The overhead of a Shipyard trial over a plain in-memory Optuna loop training the same
   model on the same data, per trial. Goal: <= 1 s.
4. The bookkeeping of a trial (its study state in the database), measured apart on a
   SQLite file: Shipyard's own trial rows (one insert when the trial starts, one update
   when it ends; its curve comes from the metric points the worker writes anyway) against
   Optuna's RDB storage (ask, a report per iteration, tell). Goal: <= 10 ms per trial.

Prints a table per part and writes every figure to benchmarks/results/tuning.json.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import optuna
import pandas as pd
import xgboost as xgb
from live_server import start_server

SEEDS = (1, 2, 3, 4, 5)
SEARCH_BUDGET = 25
HYPERBAND_SEEDS = (1, 2, 3, 4, 5, 6, 7)
HYPERBAND_TRIALS = 40
HYPERBAND_TRIES = 4 * HYPERBAND_TRIALS
HYPERBAND_BUDGET = {"min_resource": 9, "max_resource": 243, "reduction_factor": 3}
TARGET_PERCENTILE = 90
OVERHEAD_TRIALS = 20
BOOKKEEPING_TRIALS = 200
STEPS_PER_TRIAL = 100
RESULTS = Path(__file__).parent / "results" / "tuning.json"
RANGES = {
    "continuous_parameter_ranges": [
        {"name": "eta", "min_value": 0.001, "max_value": 1.0, "scaling_type": "Logarithmic"},
        {"name": "min_child_weight", "min_value": 0.1, "max_value": 200,
         "scaling_type": "Logarithmic"},
        {"name": "subsample", "min_value": 0.3, "max_value": 1.0},
        {"name": "colsample_bytree", "min_value": 0.2, "max_value": 1.0},
        {"name": "lambda", "min_value": 0.001, "max_value": 100, "scaling_type": "Logarithmic"},
    ],
    "integer_parameter_ranges": [{"name": "max_depth", "min_value": 1, "max_value": 10}],
}  # fmt: skip


# ---- the problem ----------------------------------------------------------------------
def problem(rows: int, seed: int) -> pd.DataFrame:
    """Binary labels from interactions, a sine and noise, plus features that say nothing."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 12))
    logit = (
        1.2 * x[:, 0] - 1.0 * x[:, 1] + 1.5 * x[:, 2] * x[:, 3]
        + np.sin(2 * x[:, 4]) + 0.8 * (x[:, 5] > 0.5) * x[:, 6]
    )  # fmt: skip
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(12)])
    frame["label"] = (logit + rng.normal(scale=1.0, size=rows) > 0).astype(int)
    return frame


class Shipyard:
    """The live server and the problem's channels on it."""

    def __init__(self, client: httpx.Client, channels: dict[str, str]) -> None:
        self.client = client
        self.channels = channels

    def start(self, name: str, config: dict[str, Any], static: dict[str, Any]) -> None:
        request = {
            "name": name,
            "hyperparameter_tuning_job_config": {
                "objective": {"metric_name": "validation:auc", "type": "Maximize"},
                "parameter_ranges": RANGES,
                **config,
            },
            "training_job_definition": {
                "algorithm": "xgboost",
                "target": "label",
                "channels": self.channels,
                "static_hyperparameters": static,
                "resources": {"cpu_count": 1},
            },
        }
        self.client.post("/api/v1/tuning-jobs", json=request).raise_for_status()

    def wait(self, name: str) -> dict[str, Any]:
        while True:
            job = self.client.get(f"/api/v1/tuning-jobs/{name}").json()
            if job["status"] in ("Completed", "Failed", "Stopped"):
                assert job["status"] == "Completed", job["failure_reason"]
                return job
            time.sleep(0.2)

    def trials(self, name: str) -> list[dict[str, Any]]:
        return self.client.get(f"/api/v1/tuning-jobs/{name}/training-jobs").json()["items"]

    def rounds(self, training_job: str) -> int:
        points = self.client.get(
            f"/api/v1/training-jobs/{training_job}/metrics", params={"name": "validation:auc"}
        ).json()["metrics"]
        return sum(1 for p in points if p["step"] is not None)


def limits(jobs: int) -> dict[str, Any]:
    return {
        "resource_limits": {"max_number_of_training_jobs": jobs, "max_parallel_training_jobs": 1}
    }


def best_so_far(trials: list[dict[str, Any]]) -> list[float]:
    curve: list[float] = []
    for trial in sorted(trials, key=lambda t: t["number"]):
        value = trial["final_objective_value"]
        value = value if value is not None else float("-inf")
        curve.append(max(curve[-1], value) if curve else value)
    return curve


# ---- 1. Bayesian against Random -------------------------------------------------------
def search_comparison(shipyard: Shipyard) -> dict[str, Any]:
    curves: dict[str, list[list[float]]] = {"Bayesian": [], "Random": []}
    for seed in SEEDS:
        names = {strategy: f"{strategy.lower()}-{seed}" for strategy in curves}
        for strategy, name in names.items():  # the two run side by side, a trial at a time
            config = {"strategy": strategy, "random_seed": seed, **limits(SEARCH_BUDGET)}
            shipyard.start(name, config, {"num_round": 60})
        for strategy, name in names.items():
            shipyard.wait(name)
            curves[strategy].append(best_so_far(shipyard.trials(name)))
    figures: dict[str, Any] = {"budget": SEARCH_BUDGET, "seeds": list(SEEDS)}
    for strategy, runs in curves.items():
        figures[strategy] = {
            "best_per_seed": [run[-1] for run in runs],
            "median_best": statistics.median(run[-1] for run in runs),
            "median_best_so_far": [statistics.median(step) for step in zip(*runs, strict=True)],
        }
    figures["bayesian_beats_random"] = (
        figures["Bayesian"]["median_best"] > figures["Random"]["median_best"]
    )
    return figures


# ---- 2. Hyperband against no early stopping --------------------------------------------
def hyperband_comparison(shipyard: Shipyard) -> dict[str, Any]:
    runs = []
    for seed in HYPERBAND_SEEDS:
        hyperband, full = f"hyperband-{seed}", f"full-budget-{seed}"
        shipyard.start(
            hyperband,
            {"strategy": "Hyperband", "random_seed": seed, **limits(HYPERBAND_TRIES),
             "strategy_config": {"hyperband_strategy_config": HYPERBAND_BUDGET}},
            {},
        )  # fmt: skip
        shipyard.start(
            full,
            {"strategy": "Random", "random_seed": seed, **limits(HYPERBAND_TRIALS)},
            {"num_round": HYPERBAND_BUDGET["max_resource"]},
        )
        spent = {name: rounds_and_best(shipyard, name) for name in (hyperband, full)}
        objectives = [t["final_objective_value"] for t in shipyard.trials(full)]
        target = float(np.percentile([v for v in objectives if v is not None], TARGET_PERCENTILE))
        to_target = {name: rounds_to(target, spent[name]) for name in spent}
        runs.append(
            {
                "seed": seed,
                "target": target,
                "hyperband_rounds_to_target": to_target[hyperband],
                "full_budget_rounds_to_target": to_target[full],
                "hyperband_total_rounds": spent[hyperband][-1][0],
                "full_budget_total_rounds": spent[full][-1][0],
                "hyperband_best": max(best for _, best in spent[hyperband]),
                "full_budget_best": max(best for _, best in spent[full]),
                "hyperband_configurations": len(
                    {t["configuration"] for t in shipyard.trials(hyperband)}
                ),
            }
        )
    ratios = [  # a Hyperband job that never reaches the target counts as a ratio of 0
        r["full_budget_rounds_to_target"] / r["hyperband_rounds_to_target"]
        if r["hyperband_rounds_to_target"]
        else 0.0
        for r in runs
    ]
    never = float("inf")  # a job that never reaches the target ranks last
    hyperband_median = statistics.median(r["hyperband_rounds_to_target"] or never for r in runs)
    full_median = statistics.median(r["full_budget_rounds_to_target"] or never for r in runs)
    return {
        "trials": HYPERBAND_TRIALS,
        "hyperband_trials": HYPERBAND_TRIES,
        "budget": HYPERBAND_BUDGET,
        "target_percentile": TARGET_PERCENTILE,
        "runs": runs,
        "ratios": ratios,
        "median_ratio": statistics.median(ratios),
        "hyperband_median_rounds_to_target": hyperband_median,
        "full_budget_median_rounds_to_target": full_median,
        "ratio_of_medians": full_median / hyperband_median,
        "goal_ratio": 3.0,
    }


def rounds_and_best(shipyard: Shipyard, name: str) -> list[tuple[int, float]]:
    """After each trial, in order: the rounds spent so far and the best objective so far."""
    shipyard.wait(name)
    spent, best, out = 0, float("-inf"), []
    for trial in sorted(shipyard.trials(name), key=lambda t: t["number"]):
        spent += shipyard.rounds(trial["training_job_name"])
        if trial["final_objective_value"] is not None:
            best = max(best, trial["final_objective_value"])
        out.append((spent, best))
    return out


def rounds_to(target: float, progress: list[tuple[int, float]]) -> int | None:
    return next((spent for spent, best in progress if best >= target), None)


# ---- 3. overhead per trial ------------------------------------------------------------
def overhead(shipyard: Shipyard, train: pd.DataFrame, validation: pd.DataFrame) -> dict[str, Any]:
    plain = plain_optuna_seconds_per_trial(train, validation)
    started = time.perf_counter()
    shipyard.start(
        "overhead", {"strategy": "Random", "random_seed": 7, **limits(OVERHEAD_TRIALS)},
        {"num_round": 60},
    )  # fmt: skip
    shipyard.wait("overhead")
    per_trial = (time.perf_counter() - started) / OVERHEAD_TRIALS
    return {
        "trials": OVERHEAD_TRIALS,
        "plain_optuna_seconds_per_trial": plain,
        "shipyard_seconds_per_trial": per_trial,
        "overhead_seconds_per_trial": per_trial - plain,
        "goal_seconds": 1.0,
    }


def plain_optuna_seconds_per_trial(train: pd.DataFrame, validation: pd.DataFrame) -> float:
    """An in-memory Optuna loop over the same ranges, each trial training the same XGBoost
    model on the same data (loaded once) and scoring validation AUC."""
    x_train, y_train = train.drop(columns="label").to_numpy(np.float32), train["label"]
    x_valid, y_valid = validation.drop(columns="label").to_numpy(np.float32), validation["label"]
    dtrain = xgb.QuantileDMatrix(x_train, label=y_train)
    dvalid = xgb.QuantileDMatrix(x_valid, label=y_valid, ref=dtrain)

    def objective(trial: optuna.Trial) -> float:
        params = {
            "objective": "binary:logistic",
            "eval_metric": "auc",
            "tree_method": "hist",
            "nthread": 1,
            "eta": trial.suggest_float("eta", 0.001, 1.0, log=True),
            "min_child_weight": trial.suggest_float("min_child_weight", 0.1, 200, log=True),
            "subsample": trial.suggest_float("subsample", 0.3, 1.0),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.2, 1.0),
            "lambda": trial.suggest_float("lambda", 0.001, 100, log=True),
            "max_depth": trial.suggest_int("max_depth", 1, 10),
        }
        result: dict[str, Any] = {}
        xgb.train(params, dtrain, 60, evals=[(dvalid, "v")], evals_result=result,
                  verbose_eval=False)  # fmt: skip
        return float(result["v"]["auc"][-1])

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(7))
    started = time.perf_counter()
    study.optimize(objective, n_trials=OVERHEAD_TRIALS)
    return (time.perf_counter() - started) / OVERHEAD_TRIALS


# ---- 4. bookkeeping per trial ---------------------------------------------------------
def bookkeeping(root: Path) -> dict[str, Any]:
    return {
        "trials": BOOKKEEPING_TRIALS,
        "steps_per_trial": STEPS_PER_TRIAL,
        "shipyard_rows_ms_per_trial": shipyard_rows_ms(root / "shipyard.db"),
        "optuna_rdb_ms_per_trial": optuna_rdb_ms(root / "optuna.db"),
        "goal_ms": 10.0,
    }


def shipyard_rows_ms(path: Path) -> float:
    """The writes a tuning job makes for its study per trial: the trial row when it
    starts, its outcome and thinned curve when it ends (tuning.progress.mark_ended)."""
    from shipyard.core.db import Database
    from shipyard.tuning.models import TuningJob, TuningTrial
    from shipyard.tuning.progress import thin

    db = Database(f"sqlite:///{path}")
    db.migrate()
    with db.session_scope() as session:
        job = TuningJob(name="bench", status="InProgress", config={}, definition={}, tags={},
                        owner="bench", created_at=pd.Timestamp.now(tz="UTC"))  # fmt: skip
        session.add(job)
    curve = {step: 0.5 + step / 1000 for step in range(STEPS_PER_TRIAL)}
    started = time.perf_counter()
    for number in range(BOOKKEEPING_TRIALS):
        with db.session_scope() as session:
            trial = TuningTrial(
                tuning_job="bench", number=number, training_job_name=f"bench-{number:03d}",
                hyperparameters={"eta": 0.1, "max_depth": 3}, params={"eta": 0.1, "max_depth": 3},
                training_job_status="Pending", intermediate={},
                created_at=pd.Timestamp.now(tz="UTC"),
            )  # fmt: skip
            session.add(trial)
        with db.session_scope() as session:
            row = session.get(TuningTrial, trial.id)
            assert row is not None
            row.training_job_status, row.objective_value = "Completed", 0.9
            row.intermediate = {str(s): v for s, v in thin(curve, set()).items()}
    elapsed = time.perf_counter() - started
    db.dispose()
    return 1000 * elapsed / BOOKKEEPING_TRIALS


def optuna_rdb_ms(path: Path) -> float:
    """The same study kept in Optuna's RDB storage: ask, a report per step (what a pruner
    shared across processes would need), tell."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        storage = optuna.storages.RDBStorage(f"sqlite:///{path}")
    study = optuna.create_study(storage=storage, direction="maximize")
    distributions = {
        "eta": optuna.distributions.FloatDistribution(0.001, 1.0, log=True),
        "max_depth": optuna.distributions.IntDistribution(1, 10),
    }
    study.sampler = optuna.samplers.RandomSampler(0)
    started = time.perf_counter()
    for _ in range(BOOKKEEPING_TRIALS // 10):  # a tenth of the trials: it is slow
        trial = study.ask(distributions)
        for step in range(STEPS_PER_TRIAL):
            trial.report(0.5 + step / 1000, step)
        study.tell(trial, 0.9)
    return 1000 * (time.perf_counter() - started) / (BOOKKEEPING_TRIALS // 10)


# ---- running it -----------------------------------------------------------------------
def main() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        train, validation = problem(4000, seed=0), problem(2000, seed=1)
        paths = {"train": root / "train.csv", "validation": root / "validation.csv"}
        train.to_csv(paths["train"], index=False)
        validation.to_csv(paths["validation"], index=False)
        process, url, token = start_server(root / "home")
        headers = {"Authorization": f"Bearer {token}"}
        try:
            with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
                channels = {name: upload(client, name, path) for name, path in paths.items()}
                shipyard = Shipyard(client, channels)
                shipyard.start("warm-up", {"strategy": "Random", **limits(2)}, {"num_round": 5})
                shipyard.wait("warm-up")  # the first job waits for the forkserver's imports
                parts = {
                    "overhead": lambda: overhead(shipyard, train, validation),
                    "search": lambda: search_comparison(shipyard),
                    "hyperband": lambda: hyperband_comparison(shipyard),
                    "bookkeeping": lambda: bookkeeping(root),
                }
                wanted = sys.argv[1:] or list(parts)
                figures = previous_figures() | {"cpu_count": os.cpu_count()}
                figures |= {name: parts[name]() for name in wanted}
        finally:
            process.terminate()
            process.wait(30)
    report(figures)


def previous_figures() -> dict[str, Any]:
    """The last run's figures: a run of some parts (`python benchmarks/tuning.py hyperband`)
    keeps the others'."""
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else {}


def upload(client: httpx.Client, name: str, path: Path) -> str:
    with path.open("rb") as handle:
        response = client.post(
            "/api/v1/datasets", data={"name": f"tuning-{name}"}, files={"file": (path.name, handle)}
        )
    response.raise_for_status()
    return response.json()["uri"]


def report(figures: dict[str, Any]) -> None:
    search = figures["search"]
    print(f"1. search, {search['budget']} trials, median over seeds {search['seeds']}")
    print(f"{'strategy':<10}{'median best':>13}{'best per seed':>50}")
    for strategy in ("Bayesian", "Random"):
        row = search[strategy]
        seeds = " ".join(f"{v:.4f}" for v in row["best_per_seed"])
        print(f"{strategy:<10}{row['median_best']:>13.4f}{seeds:>50}")
    ratio = search["Bayesian"]["median_best"] - search["Random"]["median_best"]
    print(f"Bayesian - Random: {ratio:+.4f} (goal: > 0)")
    curve = search["Bayesian"]["median_best_so_far"], search["Random"]["median_best_so_far"]
    print("median best so far after trial 5/10/15/20/25:")
    for name, values in zip(("Bayesian", "Random"), curve, strict=True):
        print(f"  {name:<9}" + " ".join(f"{values[i - 1]:.4f}" for i in (5, 10, 15, 20, 25)))

    hyperband = figures["hyperband"]
    print(f"\n2. Hyperband vs no early stopping, {hyperband['trials']} trials, rounds to the "
          f"{hyperband['target_percentile']}th percentile of the full-budget trials")  # fmt: skip
    print(f"{'seed':<6}{'target':>9}{'hyperband':>12}{'full':>10}{'ratio':>8}{'configs':>9}")
    for run in hyperband["runs"]:
        h, f = run["hyperband_rounds_to_target"], run["full_budget_rounds_to_target"]
        ratio_text = f"{f / h:.2f}" if h else "-"
        print(f"{run['seed']:<6}{run['target']:>9.4f}{h or '-':>12}{f:>10}{ratio_text:>8}"
              f"{run['hyperband_configurations']:>9}")  # fmt: skip
    print(f"median rounds to the target: Hyperband "
          f"{hyperband['hyperband_median_rounds_to_target']}, full budget "
          f"{hyperband['full_budget_median_rounds_to_target']}: "
          f"{hyperband['ratio_of_medians']:.2f}x fewer (goal: >= 3); median of the seeds' "
          f"ratios {hyperband['median_ratio']:.2f}")  # fmt: skip

    cost = figures["overhead"]
    print(f"\n3. per trial: plain Optuna {cost['plain_optuna_seconds_per_trial']:.3f} s, "
          f"Shipyard {cost['shipyard_seconds_per_trial']:.3f} s, overhead "
          f"{cost['overhead_seconds_per_trial']:.3f} s (goal: <= 1 s)")  # fmt: skip
    books = figures["bookkeeping"]
    print(f"4. bookkeeping per trial ({books['steps_per_trial']} steps): Shipyard rows "
          f"{books['shipyard_rows_ms_per_trial']:.2f} ms, Optuna RDB storage "
          f"{books['optuna_rdb_ms_per_trial']:.2f} ms (goal: <= 10 ms)")  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
