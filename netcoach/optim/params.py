"""Parameter groups: which parameters get weight decay (and L1/L2/max-norm), which do not.

A pure function of the model: it never changes the model and reports what it
grouped, so a run can record (and a test can check) that biases and
normalization parameters were excluded from decay.

Example:
    >>> from torch import nn
    >>> groups, report = param_groups(nn.Linear(3, 2), weight_decay=1e-4)
    >>> report["decay"], report["no_decay"]
    (['weight'], ['bias'])
"""

from __future__ import annotations

from typing import Optional

from torch import nn

# Module types whose parameters are scales/shifts of a normalization, not weights of a neuron.
NORM_TYPES = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm,
              nn.modules.instancenorm._InstanceNorm, nn.LocalResponseNorm)


def is_decayed(name: str, module: nn.Module) -> bool:
    """True for weights of neurons: not a bias, not a normalization parameter."""
    return not name.endswith("bias") and not isinstance(module, NORM_TYPES)


def split_parameters(model: nn.Module, decay_bias_norm: bool = False) -> tuple[list, list, dict]:
    """Split the trainable parameters of ``model`` into (decay, no_decay, report).

    Args:
        model: any module; parameters with ``requires_grad=False`` are skipped.
        decay_bias_norm: put biases and normalization parameters in the decay group too.

    Returns:
        ``(decay_params, no_decay_params, report)`` where ``report`` maps
        ``"decay"``/``"no_decay"`` to the qualified parameter names.
    """
    decay, no_decay = [], []
    report: dict[str, list[str]] = {"decay": [], "no_decay": []}
    seen: set[int] = set()  # shared (tied) parameters are grouped once
    for mod_name, module in model.named_modules():
        for p_name, p in module.named_parameters(recurse=False):
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            full = f"{mod_name}.{p_name}" if mod_name else p_name
            if decay_bias_norm or is_decayed(p_name, module):
                decay.append(p)
                report["decay"].append(full)
            else:
                no_decay.append(p)
                report["no_decay"].append(full)
    return decay, no_decay, report


def decayed_ids(model: nn.Module, decay_bias_norm: bool = False) -> set[int]:
    """``id`` of every parameter of ``model`` that weight decay may act on.

    Decoupled decay and the optimizers' own decay decide per parameter from this set,
    never from how the optimizer's groups were formed: a user's
    ``torch.optim.SGD(model.parameters())`` has one group holding biases and norm
    scales too.
    """
    return {id(p) for p in split_parameters(model, decay_bias_norm)[0]}


def regroup(params, model: nn.Module, weight_decay: float, decay_bias_norm: bool = False) -> list[dict]:
    """Split a parameter list (or list of groups) into decayed and undecayed groups,
    looking each parameter up in ``model``.

    Each incoming group keeps its own keys (lr, ...); its biases and normalization
    parameters move to a sibling group with ``weight_decay`` 0. A parameter that
    ``model`` does not hold (a free tensor being optimized) counts as a weight.
    """
    groups = list(params)
    if groups and not isinstance(groups[0], dict):
        groups = [{"params": groups}]
    owned = {id(p) for p in model.parameters()}
    decayed = decayed_ids(model, decay_bias_norm)
    out = []
    for group in groups:
        members = list(group["params"])
        keep = [p for p in members if id(p) in decayed or id(p) not in owned]
        rest = [p for p in members if id(p) not in decayed and id(p) in owned]
        base = {k: v for k, v in group.items() if k != "params"}
        if keep:
            out.append({**base, "params": keep, "weight_decay": base.get("weight_decay", weight_decay),
                        "decay": True})
        if rest:
            out.append({**base, "params": rest, "weight_decay": 0.0, "decay": False})
    return out


def param_groups(model: nn.Module, weight_decay: float = 0.0,
                 decay_bias_norm: bool = False) -> tuple[list[dict], dict]:
    """Optimizer parameter groups: decayed weights, and everything else with no decay.

    Each group carries ``"name"`` (``"decay"`` or ``"no_decay"``) and
    ``"decay"`` (bool) so regularizers that act on the optimizer's groups (decoupled
    weight decay) can tell them apart; torch.optim keeps extra group keys.

    Returns:
        ``(groups, report)``; empty groups are left out, ``report`` as in
        :func:`split_parameters` plus the weight decay of each group.
    """
    decay, no_decay, report = split_parameters(model, decay_bias_norm)
    groups = []
    if decay:
        groups.append({"params": decay, "weight_decay": weight_decay, "name": "decay", "decay": True})
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0, "name": "no_decay", "decay": False})
    report = {**report, "weight_decay": {"decay": weight_decay, "no_decay": 0.0}}
    return groups, report


def scaled_param_groups(model: nn.Module, scales: list[tuple[str, list, float]], lr: float,
                        weight_decay: float = 0.0, decay_bias_norm: bool = False) -> tuple[list[dict], dict]:
    """Parameter groups with their own learning rates (discriminative lr, layer decay).

    Args:
        scales: ``[(name, parameters, multiplier)]``; each part gets ``lr * multiplier``
            and is split into decayed and undecayed groups as :func:`param_groups` does.
            Parameters of ``model`` in no part form a last part at ``lr``.

    Every parameter is placed, also one with ``requires_grad=False`` (frozen for now):
    the groups never change when it is unfrozen, so a resumed optimizer matches.
    Each group carries ``"name"`` (``"<part>.decay"``/``"<part>.no_decay"``), ``"decay"``
    and ``"lr_mult"``; the report maps each group name to its parameter names.
    """
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {id(p) for n, p in _all_parameters(model, decay_bias_norm)}
    placed = {id(p) for _, params, _ in scales for p in params}
    rest = [p for p in model.parameters() if id(p) not in placed]
    parts = list(scales) + ([("rest", rest, 1.0)] if rest else [])
    groups, report = [], {}
    for part, params, mult in parts:
        for kind, members in (("decay", [p for p in params if id(p) in decayed]),
                              ("no_decay", [p for p in params if id(p) not in decayed])):
            if members:
                name = f"{part}.{kind}"
                groups.append({"params": members, "lr": lr * mult, "lr_mult": mult, "name": name,
                               "weight_decay": weight_decay if kind == "decay" else 0.0,
                               "decay": kind == "decay"})
                report[name] = [names.get(id(p), "?") for p in members]
    return groups, report


def is_norm_bias(name: str, module: nn.Module) -> bool:
    """True for the shift (beta) of a normalization layer."""
    return name == "bias" and isinstance(module, NORM_TYPES)


def scale_norm_biases(groups: list[dict], model: nn.Module, lr: float, mult: float) -> list[dict]:
    """Move the normalization biases of each group into a sibling group whose lr is the
    group's times ``mult`` and whose weight decay is the group's divided by ``mult``.

    torch's SGD decays by lr x weight_decay per step, so the product (the decay) stays
    what it was and only the gradient step grows: airbench's "bias_scaler", which lets
    the BN shifts move 64x faster than the weights. The new groups come after all the
    others, so ``param_groups[0]`` (whose lr is logged) is unchanged; each is named
    ``"<group>.norm_bias"`` and carries ``lr_mult`` (the schedules scale their peaks by it).
    """
    if mult == 1.0:
        return groups
    biases = {id(p) for _, module in model.named_modules()
              for n, p in module.named_parameters(recurse=False) if is_norm_bias(n, module)}
    kept, moved = [], []
    for group in groups:
        members = list(group["params"])
        rest = [p for p in members if id(p) not in biases]
        shifted = [p for p in members if id(p) in biases]
        base = {k: v for k, v in group.items() if k != "params"}
        if rest:
            kept.append({**base, "params": rest})
        if shifted:
            own = base.get("lr_mult", 1.0)
            moved.append({**base, "params": shifted, "lr": base.get("lr", lr) * mult, "lr_mult": own * mult,
                          "weight_decay": base.get("weight_decay", 0.0) / mult,
                          "name": f"{base.get('name', 'group')}.norm_bias"})
    return kept + moved


def _all_parameters(model: nn.Module, decay_bias_norm: bool):
    """(name, parameter) of every decayed parameter, trainable or not."""
    for mod_name, module in model.named_modules():
        for p_name, p in module.named_parameters(recurse=False):
            if decay_bias_norm or is_decayed(p_name, module):
                yield (f"{mod_name}.{p_name}" if mod_name else p_name), p


# Group keys that describe a group rather than configure the update: groups equal in
# everything else update their parameters identically.
DESCRIPTIVE_KEYS = ("params", "name", "decay")


def group_options(group: dict) -> dict:
    """The options of a group that the optimizer's update reads (lr, weight_decay, ...)."""
    return {k: v for k, v in group.items() if k not in DESCRIPTIVE_KEYS}


def _merged_name(names: list[str]) -> str:
    """``decay`` + ``no_decay`` -> ``all``; ``head.decay`` + ``head.no_decay`` -> ``head``."""
    parts = {n.rsplit(".", 1)[0] if "." in n else "" for n in names}
    return (parts.pop() or "all") if len(parts) == 1 else "+".join(names)


def merge_equal_groups(groups: list[dict]) -> list[dict]:
    """Join each run of consecutive groups whose options are equal into one group.

    torch's optimizers loop over their groups in Python, so two groups cost a second
    pass of per-group work every step: about 13 µs of Adam's step on a small MLP, 3%
    of a 436 µs digits step. Without weight decay (the default) the decay and no-decay
    groups have equal options and update exactly as one group. Only consecutive groups
    merge, with their parameters in order, so every parameter keeps its position
    across the groups, which is what torch keys the optimizer state by (a state saved
    with the groups apart converts with :func:`merge_saved_groups`). The merged group
    is named after its part (``all`` for the whole model) and keeps ``decay`` only when
    its members agree; ``optimizer.group_report`` still lists what decays.
    """
    merged: list[dict] = []
    run: list[dict] = []
    for group in [*groups, None]:
        if run and (group is None or group_options(group) != group_options(run[0])):
            if len(run) == 1:
                merged.append(run[0])
            else:
                out = {**run[0], "params": [p for g in run for p in g["params"]]}
                if "name" in out:
                    out["name"] = _merged_name([str(g.get("name", "")) for g in run])
                if len({g.get("decay") for g in run}) > 1:
                    out.pop("decay", None)
                merged.append(out)
            run = []
        if group is not None:
            run.append(group)
    return merged


def merge_saved_groups(saved: list[dict], current: list[dict]) -> tuple[list[dict], Optional[list[int]]]:
    """A saved optimizer ``state_dict``'s groups, joined as :func:`merge_equal_groups` joined
    the live ones (a run saved before equal groups were merged), or unchanged.

    Returns ``(groups, firsts)``: ``firsts`` lists, per live group, the index of the first
    saved group it was made of (for other per-group lists, see
    ``Schedule.merge_groups``), or is None when nothing was merged. Saved groups are joined
    only when they are consecutive, hold exactly the live group's number of parameters
    and have equal options; anything else is left for ``load_state_dict`` to refuse.
    """
    if len(saved) <= len(current):
        return saved, None
    out, firsts, i = [], [], 0
    for group in current:
        need, run = len(group["params"]), []
        while i < len(saved) and sum(len(g["params"]) for g in run) < need:
            run.append(saved[i])
            i += 1
        if not run or sum(len(g["params"]) for g in run) != need or \
                any(group_options(g) != group_options(run[0]) for g in run):
            return saved, None
        joined = {**run[0], "params": [p for g in run for p in g["params"]]}
        for key in ("name", "decay"):
            joined.pop(key, None)
            if key in group:
                joined[key] = group[key]
        out.append(joined)
        firsts.append(i - len(run))
    return (out, firsts) if i == len(saved) else (saved, None)
