"""The fast copy of flips plus one zero-filled shift (``flip_shift``), for any dtype.

A run of flips and at most one zero-filling crop or translation maps every output
pixel to one source pixel: out[n, :, i, j] reads the sample, mirrored or not along
each axis, at (i + ry, j + rx), with a mirror flag and an offset per sample and axis,
and is zero where that falls outside the image. On a CPU such a copy is bound by
per-call and per-row overheads long before memory bandwidth (a uint8 image row is only
W bytes), so it is written as one long copy per image plane:

1. each sample is *oriented*: copied into a reused buffer, mirrored along the axes its
   flags say;
2. a shift by (ry, rx) of an H x W plane stored row after row is a shift of the flat
   plane by ry * W + rx: every output plane is one contiguous window of H*W values of
   the flat buffer, so one ``index_select`` over a strided view of all windows copies
   the batch plane by plane, at memory speed;
3. the values a window takes from outside its plane (the neighbouring rows and planes,
   or the buffer's unwritten margins) are set to zero by one ``bitwise_and`` with a
   per-sample mask, taken from a precomputed table with one row per (ry, rx). The AND
   runs on the values' bits (floats viewed as integers of their size), so zeros are
   exact whatever the memory held (NaN, -0.0).

Zero-padding every image instead is a strided write of W-long rows, and copying W-long
windows row by row pays per row: on ``bench/augment.py``'s batches (512 x 3 x 32 x 32
uint8, one core) about 190 and 120 microseconds against 37 for a plain copy of the
batch. PyTorch has no batched per-sample flip-and-shift with zero fill short of
``grid_sample`` (floats only, and resampling), hence our own.
"""

from __future__ import annotations

import torch

_BITS = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}  # itemsize -> integer view


class FlipShiftScratch:
    """Memory ``flip_shift`` reuses from batch to batch: the source buffer (the batch and
    its mirrored copies between margins), the table of border masks and the per-sample
    masks taken from it. Fresh tensors of these sizes per batch cost page faults every
    batch (the allocator hands large blocks back to the system), more than some of the
    copies. Nothing in the buffer is ever cleared: what is read from outside the written
    slots is masked."""

    def __init__(self):
        self.buffer: "torch.Tensor | None" = None
        self.table_key, self.table = None, None
        self.mask: "torch.Tensor | None" = None

    def flat(self, numel: int, like: torch.Tensor) -> torch.Tensor:
        """A flat buffer of at least ``numel`` values in ``like``'s dtype and device."""
        b = self.buffer
        if b is None or b.numel() < numel or b.dtype != like.dtype or b.device != like.device:
            self.buffer = b = torch.empty(numel, dtype=like.dtype, device=like.device)
        return b

    def masks(self, index: torch.Tensor, h: int, w: int, pads: tuple[int, int], bits: torch.dtype) -> torch.Tensor:
        """(N, H*W) rows ``index`` of the mask table: row (ry + py) * (2*px + 1) + (rx + px)
        has all bits set where 0 <= i + ry < H and 0 <= j + rx < W, zero elsewhere."""
        key = (h, w, pads, bits, index.device)
        if self.table_key != key:
            py, px = pads
            i = torch.arange(h, device=index.device).view(1, h, 1) + torch.arange(-py, py + 1, device=index.device).view(-1, 1, 1)
            j = torch.arange(w, device=index.device).view(1, 1, w) + torch.arange(-px, px + 1, device=index.device).view(-1, 1, 1)
            rows, cols = (i >= 0) & (i < h), (j >= 0) & (j < w)  # (2py+1, H, 1), (2px+1, 1, W)
            valid = rows.unsqueeze(1) & cols.unsqueeze(0)  # (2py+1, 2px+1, H, W)
            self.table_key, self.table = key, valid.reshape(-1, h * w).to(bits).neg_()  # True -> all bits set
        shape = (len(index), h * w)
        if self.mask is None or self.mask.shape != shape or self.mask.dtype != bits or self.mask.device != index.device:
            self.mask = self.table.new_empty(shape)
        return torch.index_select(self.table, 0, index, out=self.mask)


def flip_shift(x: torch.Tensor, fy: torch.Tensor, ry: torch.Tensor, fx: torch.Tensor, rx: torch.Tensor,
               pads: tuple[int, int], mirror_all: "bool | None" = None,
               scratch: "FlipShiftScratch | None" = None) -> torch.Tensor:
    """out[n, :, i, j] = o[n, :, i + ry[n], j + rx[n]], zero where that falls outside the
    image, where o[n] is x[n] mirrored top-bottom where ``fy[n]`` and left-right where
    ``fx[n]`` ((N,) bool); the offsets (N,) never exceed ``pads`` (rows, columns).

    ``mirror_all`` (default: off the CPU) chooses every sample's orientation with
    ``torch.where`` over mirrored copies of the whole batch instead of counting the samples
    that need one, which would make the host wait for an accelerator every batch.
    ``scratch``: a ``FlipShiftScratch`` kept between calls (default: a fresh one).
    """
    n, c, h, w = x.shape
    py, px = pads
    plane = h * w
    margin = py * w + px  # the farthest a window reaches outside its plane
    if mirror_all is None:
        mirror_all = x.device.type != "cpu"
    scratch = scratch or FlipShiftScratch()
    if mirror_all:
        flat, slot = _oriented_everywhere(x, fy, fx, scratch, margin)
    else:
        flat, slot = _oriented_where_needed(x, fy, fx, scratch, margin)
    start = (slot * (c * plane) + (ry * w + rx + margin)).view(n, 1) + torch.arange(0, c * plane, plane, device=x.device)
    windows = flat.as_strided((flat.numel() - plane + 1, plane), (1, 1))
    out = windows.index_select(0, start.view(-1)).view(n, c, h, w)
    if py or px:
        bits = _BITS[x.element_size()]
        mask = scratch.masks(ry * (2 * px + 1) + (rx + (py * (2 * px + 1) + px)), h, w, pads, bits)
        out.view(bits).view(n, c, plane).bitwise_and_(mask.view(n, 1, plane))
    return out


def _oriented_where_needed(x, fy, fx, scratch, margin):
    """Flat buffer [margin | every sample, oriented | margin] and each sample's slot in it.
    The samples are grouped by the axes they are mirrored on; each group is copied with one
    ``index_select`` (and one ``flip``), so no sample is copied twice."""
    n, size = x.shape[0], x[0].numel()
    kind = fx + 2 * fy  # 0 as is, 1 columns, 2 rows, 3 both mirrored
    counts = torch.bincount(kind, minlength=4).tolist()
    order = torch.argsort(kind, stable=True)  # slot s holds sample order[s]
    slot = torch.empty_like(order)
    slot[order] = torch.arange(n, device=x.device)
    flat = scratch.flat(n * size + 2 * margin, x)
    slots = flat[margin:margin + n * size].view(x.shape)
    at = 0
    for count, dims in zip(counts, ((), (-1,), (-2,), (-2, -1))):
        if count == n and not dims:
            slots.copy_(x)
        elif count and not dims:
            torch.index_select(x, 0, order[:count], out=slots[:count])
        elif count:
            slots[at:at + count].copy_(x.index_select(0, order[at:at + count]).flip(dims))
        at += count
    return flat, slot


def _oriented_everywhere(x, fy, fx, scratch, margin):
    """Flat buffer [margin | each sample oriented | margin], chosen per sample from mirrored
    copies of the whole batch (no host synchronisation); sample n's slot is n."""
    n = x.shape[0]
    flat = scratch.flat(x.numel() + 2 * margin, x)
    oriented = torch.where(fx.view(n, 1, 1, 1), x.flip(-1), x)
    oriented = torch.where(fy.view(n, 1, 1, 1), oriented.flip(-2), oriented)
    flat[margin:margin + x.numel()].view(x.shape).copy_(oriented)
    return flat, torch.arange(n, device=x.device)
