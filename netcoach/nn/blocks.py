"""Layer blocks shared by all models, so every activation/norm/dropout choice applies everywhere.

A hidden block is ``layer -> norm -> activation -> dropout`` (``norm_position =
"before"``, the original BN paper) or ``layer -> activation -> norm -> dropout``
("after", which the course's ImageNet table found better for ReLU). The blocks
return plain lists of modules, so a model can splice them into one flat
``nn.Sequential`` (its backbone); the classifier head is its own small module,
so the model contract (``netcoach.models.Network``) can name and replace it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from torch import nn

from netcoach.config import ModelConfig
from netcoach.nn.activations import make_activation, width_factor
from netcoach.nn.dropout import DirectDropout, conv_layer, linear_layer, make_dropout
from netcoach.nn.init import InitScheme
from netcoach.nn.norms import make_norm


@dataclass(frozen=True)
class Blocks:
    """Builds hidden blocks and the classifier head from a ``ModelConfig``.

    Example:
        >>> b = Blocks(ModelConfig(norm="batch"), default_norm="none")
        >>> [type(m).__name__ for m in b.dense(4, 8)]
        ['Linear', 'BatchNorm1d', 'ReLU']
    """

    cfg: ModelConfig
    default_norm: str = "none"

    @property
    def norm(self) -> str:
        return self.default_norm if self.cfg.norm == "default" else self.cfg.norm

    @property
    def factor(self) -> int:
        """Width multiplier of the layer before the activation (k for maxout)."""
        return width_factor(self.cfg.activation, self.cfg.maxout_pieces)

    @property
    def init(self) -> InitScheme:
        """``model.init`` / ``init_std`` / ``bias_init`` / ``bias_value`` as one object."""
        cfg = self.cfg
        return InitScheme(cfg.init, cfg.init_std, cfg.bias_init, cfg.bias_value)

    def act(self) -> nn.Module:
        return make_activation(self.cfg.activation, slope=self.cfg.leaky_slope,
                               pieces=self.cfg.maxout_pieces)

    def _finish(self, layer: nn.Module, out: int, spatial: bool, activate: bool = True) -> list[nn.Module]:
        """layer + norm/activation in the configured order + block dropout."""
        cfg = self.cfg
        if not activate:  # e.g. the last conv of a residual branch: the sum is activated later
            mods = [layer, make_norm(self.norm, out, spatial, cfg.norm_groups)]
        elif cfg.norm_position == "before":
            mods = [layer, make_norm(self.norm, out * self.factor, spatial, cfg.norm_groups), self.act()]
        else:
            mods = [layer, self.act(), make_norm(self.norm, out, spatial, cfg.norm_groups)]
        if activate:
            mods.append(make_dropout(cfg.dropout_mode, cfg.block_dropout, spatial))
        return [m for m in mods if not isinstance(m, nn.Identity)]

    def _bias(self, activate: bool) -> bool:
        # A shift right before batch norm is cancelled by its mean subtraction.
        before = self.cfg.norm_position == "before" or not activate
        return not (self.norm == "batch" and before)

    def dense(self, fin: int, fout: int) -> list[nn.Module]:
        """A fully connected hidden block with ``fout`` outputs."""
        width = fout * self.factor
        layer = linear_layer(fin, width, self._bias(True), self.cfg.dropout_mode, self.cfg.block_dropout)
        return self._finish(layer, fout, spatial=False)

    def conv(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, padding: int = 1,
             activate: bool = True) -> list[nn.Module]:
        """A convolutional block with ``cout`` output channels."""
        width = cout * self.factor if activate else cout
        layer = conv_layer(cin, width, kernel, stride, padding, self._bias(activate),
                           self.cfg.dropout_mode, self.cfg.block_dropout)
        return self._finish(layer, cout, spatial=True, activate=activate)

    @staticmethod
    def signal_input(channels: int) -> list[nn.Module]:
        """(N, C, L) signals -> (N, C, 1, L) maps, the form ``conv1d`` blocks work on."""
        return [nn.Unflatten(1, (channels, 1))]

    def conv1d(self, cin: int, cout: int, kernel: int = 5, stride: int = 1, padding: int = 2,
               activate: bool = True) -> list[nn.Module]:
        """A 1-D convolutional block with ``cout`` output channels, on (N, C, 1, L) maps.

        The convolution is a 2-D one with a 1 x ``kernel`` kernel over a height-1 map (the
        same sums as ``nn.Conv1d``), so every norm, dropout and DropConnect variant of the
        2-D blocks applies unchanged and means the same along the signal: batch norm per
        channel over (N, L), instance norm per sample and channel over L, spatial dropout
        drops whole channels. ``signal_input`` makes the maps from (N, C, L) inputs.
        """
        width = cout * self.factor if activate else cout
        layer = conv_layer(cin, width, (1, kernel), (1, stride), (0, padding), self._bias(activate),
                           self.cfg.dropout_mode, self.cfg.block_dropout)
        return self._finish(layer, cout, spatial=True, activate=activate)

    def head(self, fin: int, num_classes: int, bias: bool = True) -> nn.Sequential:
        """The classifier head: dropout (``model.dropout``, if any) then the linear layer
        producing logits, named ``dropout`` and ``fc`` so that its paths (``head.fc.weight``)
        do not depend on whether dropout is on."""
        cfg = self.cfg
        drop = make_dropout(cfg.dropout_mode, cfg.dropout, spatial=False)
        parts = [] if isinstance(drop, nn.Identity) else [("dropout", drop)]
        parts.append(("fc", linear_layer(fin, num_classes, bias, cfg.dropout_mode, cfg.dropout)))
        return nn.Sequential(OrderedDict(parts))

    def input_dropout(self) -> list[nn.Module]:
        """Element-wise dropout of the inputs (``model.input_dropout``), if any.

        Always element-wise: spatial dropout of a grayscale input would drop the whole
        image, and DropConnect has no weights here, so both use inverted dropout.
        """
        p, mode = self.cfg.input_dropout, self.cfg.dropout_mode
        if p == 0:
            return []
        if mode == "direct":
            return [DirectDropout(p)]
        return [nn.AlphaDropout(p) if mode == "alpha" else nn.Dropout(p)]
