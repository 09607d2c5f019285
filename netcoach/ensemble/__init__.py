"""Prediction ensembles: several trained networks averaged as one predictor.

- ``build_ensemble(runs)`` checks that finished runs can be averaged, scores each and
  their weighted mean on the common test split, and writes an ensemble folder;
- ``load_ensemble(folder)`` gives back the averaged predictor (an ``nn.Module``);
- ``snapshots`` keeps the weights at the end of learning-rate cycles of one run
  (snapshot ensembles) and scores their ensemble at the end of training.

Unlike EMA/SWA (one network whose weights are an average along one trajectory), an
ensemble averages the *predictions* of several networks; see docs/ensembles.md.
"""

from netcoach.ensemble.build import EnsembleResult, build_ensemble, load_ensemble
from netcoach.ensemble.folder import is_ensemble
from netcoach.ensemble.members import MemberError
from netcoach.ensemble.model import EnsembleModel

__all__ = ["EnsembleModel", "EnsembleResult", "MemberError", "build_ensemble", "is_ensemble", "load_ensemble"]
