"""The job API's logic, free of transports.

``jobs`` (TrainingCore: create, list, cancel, resume, events, checkpoints), ``files`` (upload
and validation of training files), ``hyperparameters`` (ranges and defaults, the method and
DPO's beta), ``datasets`` (ingestion's dataset versions), ``models`` (fine-tuned models as
starting points), ``names`` (the fine-tuned model id), ``tokenizers`` (context checks),
``reaper`` (jobs whose worker died), ``paging`` (filtered listings).
"""

from keel_training.core.hyperparameters import DEFAULT_LR, check_hyperparameters
from keel_training.core.jobs import Enqueue, TrainingCore
from keel_training.core.names import fine_tuned_name, output_model_name
from keel_training.core.tokenizers import Tokenizers

__all__ = [
    "DEFAULT_LR",
    "Enqueue",
    "Tokenizers",
    "TrainingCore",
    "check_hyperparameters",
    "fine_tuned_name",
    "output_model_name",
]
