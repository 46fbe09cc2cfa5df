"""Nearest-neighbour search of patches by normalized cross-correlation, behind one small interface.

A matcher is built once per phase and layer from the style patch bank; `match` is then called with
the current patches. Backends: `exact` (float32 matrix products), `bf16` (bfloat16 scores, best
candidates re-checked in float32), `faiss` (a faiss index over PCA-reduced descriptors, candidates
re-checked in float32). `LabelPartitionedMatcher` wraps any of them to search each patch only among
style patches of its own label. Reuse of matches across evaluations lives in the loss, which knows
when the image has moved.
"""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F

from .errors import DoodleError

BYTES_PER_SCORE = 4
PATCH_SIZE = 3
# Largest error of a bfloat16 cosine of unit vectors: inputs rounded to 8 bits (2 * 2^-9) plus the
# rounded output (2^-9 below 1); two scores further apart than twice that cannot have swapped.
BF16_MARGIN = 2 * (3 * 2**-9)
# Queries re-checked per batched product: bounds the gathered candidates to a few tens of MB.
RECHECK_BLOCK = 1024
# Style rows used to fit the faiss PCA: a few thousand pin down the leading components.
PCA_TRAINING_ROWS = 4096


def extract_patches(features: torch.Tensor, size: int = PATCH_SIZE) -> torch.Tensor:
    """(1, C, H, W) -> (L, C*size*size): every size x size patch, channel-major."""
    return F.unfold(features, kernel_size=size).squeeze(0).T


def normalise_rows(patches: torch.Tensor) -> torch.Tensor:
    # The epsilon keeps all-zero patches (dead ReLU areas, black map regions) from dividing by zero.
    return patches / patches.norm(dim=1, keepdim=True).clamp_min(1e-8)


def chunk_rows(queries: int, budget_bytes: int, slices: int, bank: int) -> int:
    """How many bank rows to score at once so that a (queries x rows) score block fits the budget."""
    if slices > 0:
        return max(1, -(-bank // slices))
    return max(1, min(bank, budget_bytes // max(1, queries * BYTES_PER_SCORE)))


class PatchMatcher(Protocol):
    def match(self, queries: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """For each query row, the index of the most similar bank row and its similarity."""
        ...


class ExactMatcher:
    """Exact cosine-similarity search by chunked matrix products.

    Memory stays bounded: only one (queries x chunk) block of scores exists at a time.
    `variety` > 0 runs a second pass that penalises bank rows many queries picked, spreading the
    use of style patches (0.2 means the most reused patch loses 0.2 of similarity).
    """

    def __init__(self, bank: torch.Tensor, budget_bytes: int = 512 * 2**20, slices: int = 0,
                 variety: float = 0.0) -> None:
        self.bank = normalise_rows(bank)
        self.budget_bytes = budget_bytes
        self.slices = slices
        self.variety = variety

    def _best(self, queries: torch.Tensor, penalty: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        rows = chunk_rows(len(queries), self.budget_bytes, self.slices, len(self.bank))
        best_score = torch.full((len(queries),), -float("inf"), device=queries.device)
        best_index = torch.zeros(len(queries), dtype=torch.long, device=queries.device)
        for start in range(0, len(self.bank), rows):
            scores = queries @ self.bank[start: start + rows].T
            if penalty is not None:
                scores -= penalty[start: start + rows]
            score, index = scores.max(dim=1)
            better = score > best_score
            best_score = torch.where(better, score, best_score)
            best_index = torch.where(better, index + start, best_index)
        return best_index, best_score

    @torch.no_grad()
    def match(self, queries: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        queries = normalise_rows(queries)
        index, score = self._best(queries, None)
        if self.variety > 0:
            usage = torch.bincount(index, minlength=len(self.bank)).float()
            index, score = self._best(queries, self.variety * usage / usage.max())
        return index, score


class ReducedPrecisionMatcher(ExactMatcher):
    """Scores every pair in bfloat16 (about 3x the matrix throughput of float32 on CPUs with AVX-512
    BF16 or AMX, and more on GPUs), keeps the `candidates` best bank rows per query, then re-scores
    those in float32 and picks the best. A query whose bfloat16 winner leads the runner-up by more
    than `BF16_MARGIN` needs no re-check: rounding cannot have swapped them. The answer is exact
    unless the true best row fell outside the candidates, which only happens between near-ties."""

    def __init__(self, bank: torch.Tensor, budget_bytes: int = 512 * 2**20, slices: int = 0,
                 variety: float = 0.0, candidates: int = 8) -> None:
        super().__init__(bank, budget_bytes, slices, variety)
        self.low_bank = self.bank.to(torch.bfloat16)
        self.candidates = candidates

    def _best(self, queries: torch.Tensor, penalty: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        rows = chunk_rows(len(queries), self.budget_bytes, self.slices, len(self.bank))
        low_queries = queries.to(torch.bfloat16)
        keep = min(self.candidates, len(self.bank))
        top_score = torch.full((len(queries), keep), -float("inf"), device=queries.device)
        top_index = torch.zeros((len(queries), keep), dtype=torch.long, device=queries.device)
        for start in range(0, len(self.bank), rows):
            # Rank in bfloat16 too: converting the whole score block to float32 would cost as
            # much as the product itself.
            scores = low_queries @ self.low_bank[start: start + rows].T
            if penalty is not None:
                scores -= penalty[start: start + rows].to(torch.bfloat16)
            score, index = scores.topk(min(keep, scores.shape[1]), dim=1)
            score = score.float()
            merged_score = torch.cat([top_score, score], dim=1)
            merged_index = torch.cat([top_index, index + start], dim=1)
            top_score, order = merged_score.topk(keep, dim=1)
            top_index = merged_index.gather(1, order)
        if keep == 1:
            return recheck(queries, self.bank, top_index, penalty)
        clear = top_score[:, 0] - top_score[:, 1] > BF16_MARGIN
        best_index, best_score = top_index[:, 0].clone(), torch.empty(len(queries), device=queries.device)
        best_score[clear] = recheck(queries[clear], self.bank, top_index[clear, :1], penalty)[1]
        unclear = ~clear
        best_index[unclear], best_score[unclear] = recheck(queries[unclear], self.bank, top_index[unclear], penalty)
        return best_index, best_score


def recheck(queries: torch.Tensor, bank: torch.Tensor, candidates: torch.Tensor,
            penalty: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The best of each query's candidate bank rows by exact float32 cosine (rows already unit)."""
    if len(queries) == 0:
        return candidates[:, 0], torch.empty(0, device=queries.device)
    # Batched dot products over blocks of queries: one (block, candidates, dim) gather at a time.
    exact = torch.cat([torch.bmm(bank[candidates[start: start + RECHECK_BLOCK]],
                                 queries[start: start + RECHECK_BLOCK, :, None]).squeeze(2)
                       for start in range(0, len(queries), RECHECK_BLOCK)])
    if penalty is not None:
        exact -= penalty[candidates]
    best_score, best = exact.max(dim=1)
    return candidates.gather(1, best[:, None]).squeeze(1), best_score


class FaissMatcher(ExactMatcher):
    """Approximate search with faiss: descriptors are projected onto the `dims` leading principal
    directions of the style bank, a flat inner-product faiss index returns the `candidates` best
    rows per query, and those are re-scored exactly in float32. The reduced search costs about
    dims/D of the exact one (D = 2,349 at relu3_1 with 5 labels), which pays off for large banks:
    several styles, high resolutions. With faiss-gpu and a CUDA device the index lives on the GPU."""

    def __init__(self, bank: torch.Tensor, budget_bytes: int = 512 * 2**20, slices: int = 0,
                 variety: float = 0.0, candidates: int = 32, dims: int = 128) -> None:
        super().__init__(bank, budget_bytes, slices, variety)
        faiss = import_faiss()
        self.candidates = min(candidates, len(self.bank))
        self.projection = None
        reduced = self.bank
        if self.bank.shape[1] > dims and len(self.bank) > dims:
            # Uncentred, so that inner products (not distances from the mean) are what is kept.
            # A few thousand rows pin the leading directions down; randomised SVD takes well under
            # a second where an exact eigendecomposition of the D x D covariance takes many.
            step = max(1, len(self.bank) // PCA_TRAINING_ROWS)
            with torch.random.fork_rng(devices=[]):  # pca_lowrank is randomised: same seed, same result
                torch.manual_seed(0)
                _, _, directions = torch.pca_lowrank(self.bank[::step].float(), q=dims, center=False, niter=3)
            self.projection = directions
            reduced = self.bank @ directions
        host = reduced.float().cpu().contiguous().numpy()
        index = faiss.IndexFlatIP(host.shape[1])
        if bank.device.type == "cuda" and hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0:
            self._resources = faiss.StandardGpuResources()
            index = faiss.index_cpu_to_gpu(self._resources, bank.device.index or 0, index)
        index.add(host)
        self.index = index

    def _best(self, queries: torch.Tensor, penalty: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        reduced = queries if self.projection is None else queries @ self.projection
        _, candidates = self.index.search(reduced.float().cpu().contiguous().numpy(), self.candidates)
        # faiss marks missing results with -1 (only when the bank is smaller than `candidates`).
        candidates = torch.from_numpy(candidates).to(queries.device).clamp_min(0)
        return recheck(queries, self.bank, candidates, penalty)


def import_faiss():
    try:
        import faiss
    except ImportError as error:
        raise DoodleError("--matcher faiss needs faiss: pip install faiss-cpu (or faiss-gpu on CUDA machines)"
                          ) from error
    return faiss


class LabelPartitionedMatcher:
    """Searches each query only among the style patches that contain the query's label.

    With maps, a descriptor is [unit features, gamma * unit map], so for a query inside one label
    a style patch lacking that label scores at most 1/(1+gamma^2) while any patch inside the label
    scores at least gamma^2/(1+gamma^2) (ReLU features have non-negative cosines). With gamma >= 1
    the restricted search therefore returns the same match for every query inside a label; only
    queries on a label boundary may differ, and they still get the best patch carrying their main
    label. The products shrink to sum_l queries_l * bank_l: about a quarter of the full search for
    the five labels of the Monet coastline, which measured 2.5x faster with the overheads.
    """

    def __init__(self, bank: torch.Tensor, bank_labels: torch.Tensor, query_labels: torch.Tensor,
                 inner: str = "exact", cache: dict[int | None, tuple[torch.Tensor, PatchMatcher]] | None = None,
                 **options) -> None:
        """`bank_labels` (bank rows, labels) says which labels each style patch contains;
        `query_labels` (queries,) is the main label of each query, fixed for the phase. `cache`
        keeps each label's rows and matcher for the next painting over the same bank."""
        self.query_labels = query_labels
        self.groups: list[tuple[torch.Tensor, torch.Tensor, PatchMatcher]] = []
        cache = {} if cache is None else cache
        for label in query_labels.unique().tolist():
            where = (query_labels == label).nonzero().squeeze(1)
            if label not in cache:
                rows = bank_labels[:, label].nonzero().squeeze(1)
                if len(rows) == 0:  # the label vanished from the style at this layer: search everything
                    if None not in cache:
                        cache[None] = (torch.arange(len(bank), device=bank.device), make_matcher(inner, bank, **options))
                    cache[label] = cache[None]
                else:
                    cache[label] = (rows, make_matcher(inner, bank[rows], **options))
            rows, matcher = cache[label]
            self.groups.append((where, rows, matcher))

    @torch.no_grad()
    def match(self, queries: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if len(queries) != len(self.query_labels):
            raise ValueError(f"expected {len(self.query_labels)} queries, got {len(queries)}")
        index = torch.zeros(len(queries), dtype=torch.long, device=queries.device)
        score = torch.zeros(len(queries), device=queries.device)
        for where, rows, matcher in self.groups:
            found, found_score = matcher.match(queries[where])
            index[where] = rows[found]
            score[where] = found_score
        return index, score


MATCHER_CLASSES = {"exact": ExactMatcher, "bf16": ReducedPrecisionMatcher, "faiss": FaissMatcher}


def fast_bfloat16(device: torch.device) -> bool:
    """Whether bfloat16 arithmetic is native here (CUDA, or a CPU with AVX-512 BF16 or AMX) and so
    several times faster than float32; elsewhere it is emulated and slower."""
    if device.type == "cuda":
        return True
    cpu = getattr(torch, "cpu", None)
    return bool(cpu is not None and (getattr(cpu, "_is_avx512_bf16_supported", lambda: False)()
                                     or getattr(cpu, "_is_amx_tile_supported", lambda: False)()))


def resolve_matcher(name: str, device: torch.device, propagate: bool = False) -> str:
    """`auto` becomes patchmatch where each search can start from the last (`propagate`: the
    optimisation path, whose phases and searches follow each other), else bf16 where bfloat16 is
    fast, else exact; other names stay."""
    if name != "auto":
        return name
    if propagate:
        return "patchmatch"
    return "bf16" if fast_bfloat16(device) else "exact"


def make_matcher(name: str, bank: torch.Tensor, **options) -> PatchMatcher:
    """The matcher called `name` ("exact", "bf16" or "faiss") over a bank of patches."""
    return MATCHER_CLASSES[name](bank, **options)
