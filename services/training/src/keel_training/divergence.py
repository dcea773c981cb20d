"""The divergence guard: a step whose loss or gradient is not finite, or a run whose loss has
climbed far above the untrained model's, stops before the step is applied."""

from __future__ import annotations

import math

from keel_common.errors import FailedPrecondition

# A run has diverged when the mean loss of its last steps exceeds this multiple of the untrained
# model's loss (plus one, for losses near zero): the learning rate is too high for this model
# and data. The untrained loss is measured before the first step over a few batches, and steps
# are averaged over a window, because one batch's loss is noisy: a legitimate run measured
# 1.47 then 7.57 on its first two batches, while SmolLM2 at lr 0.5 went 5.4, 11.5, 53.6.
EXPLODE_FACTOR = 3.0
WINDOW = 3
REFERENCE_BATCHES = 4


class TrainingDiverged(FailedPrecondition):
    """The loss or the gradient went non-finite, or the loss exploded: the run stops before
    the optimizer applies the step, and nothing is registered."""


def check_divergence(
    reference: float, recent: list[float], done: int, loss: float, grad_norm: float, lr: float
) -> None:
    """Raise TrainingDiverged for a step that must not be applied (``done`` steps before it;
    ``recent`` their losses, newest last; ``reference`` the untrained model's loss)."""
    step = done + 1
    hint = f"lower the learning rate (this step's was {lr:.3g})"
    if not math.isfinite(loss) or not math.isfinite(grad_norm):
        what, value = ("loss", loss) if not math.isfinite(loss) else ("gradient norm", grad_norm)
        raise TrainingDiverged(
            f"training diverged at step {step}: the {what} is {value}; {hint}",
            field="hyperparameters.learning_rate",
        )
    window = [*recent[-(WINDOW - 1) :], loss]
    mean = sum(window) / len(window)
    limit = EXPLODE_FACTOR * reference + 1.0
    # (a checkpoint written before the guard existed resumes without a reference: 0)
    if reference > 0 and mean > limit:
        raise TrainingDiverged(
            f"training diverged at step {step}: the mean loss of the last {len(window)} steps, "
            f"{mean:.3g}, is above {limit:.3g} ({EXPLODE_FACTOR:g} times the untrained model's "
            f"{reference:.3g}, plus 1); {hint}",
            field="hyperparameters.learning_rate",
        )
