"""Model cards: what a model is for, how risky, what it learned from, how good it is."""

from __future__ import annotations

from sqlalchemy.orm import Session

from shipyard.core.clock import utcnow
from shipyard.core.errors import NotFound
from shipyard.registry.schemas import ModelCardIn, ModelCardOut, TrainingDataCard
from shipyard.training import service as training

MAX_LISTED_COLUMNS = 8


def complete(
    session: Session,
    card: ModelCardIn,
    training_job_name: str | None,
    metrics: dict[str, float],
    by: str,
) -> ModelCardOut:
    """The card as stored: its training data from the training job's channels, and its
    metrics from the package's, where the card does not give them."""
    return ModelCardOut(
        intended_use=card.intended_use,
        risk_rating=card.risk_rating,
        training_data=card.training_data or training_data_of(session, training_job_name),
        metrics=dict(metrics) if card.metrics is None else dict(card.metrics),
        caveats_and_limitations=card.caveats_and_limitations,
        ethical_considerations=card.ethical_considerations,
        updated_by=by,
        updated_at=utcnow(),
    )


def training_data_of(session: Session, training_job_name: str | None) -> TrainingDataCard:
    """The channels a training job read, described; nothing for an uploaded model."""
    if training_job_name is None:
        return TrainingDataCard(description="Uploaded model: its training data is not known.")
    try:
        job = training.describe_training_job(session, training_job_name)
    except NotFound:
        return TrainingDataCard(description=f"Training job '{training_job_name}' (deleted).")
    parts = []
    for name, channel in sorted(job.channels.items()):
        columns = ", ".join(channel.columns[:MAX_LISTED_COLUMNS])
        if len(channel.columns) > MAX_LISTED_COLUMNS:
            columns += ", ..."
        parts.append(f"{name}: {channel.format}, {len(channel.columns)} columns ({columns})")
    target = f"; target '{job.target}'" if job.target else ""
    return TrainingDataCard(
        description=f"Channels of training job '{job.name}': {'; '.join(parts)}{target}.",
        datasets=[channel.uri for _, channel in sorted(job.channels.items())],
    )
