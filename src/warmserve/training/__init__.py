"""Training: read data, fit a scikit-learn pipeline, evaluate, log and register.

scikit-learn lives here and never on the serving path (http/, runtime/, ipc/,
cache/ and the supervisor import nothing from this package). The trainer service
(``warmserve.trainer``) and `warmserve train` build on it.
"""

from warmserve.training.datasets import BUILTIN_DATASETS
from warmserve.training.estimators import ESTIMATORS
from warmserve.training.register import TrainResult, train_and_register, train_synthetic

__all__ = [
    "BUILTIN_DATASETS",
    "ESTIMATORS",
    "TrainResult",
    "train_and_register",
    "train_synthetic",
]
