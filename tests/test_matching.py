import torch

from doodle.matching import ExactMatcher, chunk_rows, extract_patches, normalise_rows


def brute_force(queries: torch.Tensor, bank: torch.Tensor) -> torch.Tensor:
    """Reference: full cosine similarity matrix in float64."""
    q = queries.double() / queries.double().norm(dim=1, keepdim=True)
    b = bank.double() / bank.double().norm(dim=1, keepdim=True)
    return (q @ b.T).argmax(1)


def test_exact_matcher_agrees_with_brute_force_in_chunks():
    generator = torch.Generator().manual_seed(1)
    bank = torch.randn(1000, 72, generator=generator)
    queries = torch.randn(300, 72, generator=generator)
    expected = brute_force(queries, bank)
    for options in ({"slices": 7}, {"budget_bytes": 300 * 4 * 33}, {}):
        index, score = ExactMatcher(bank, **options).match(queries)
        assert torch.equal(index, expected), options
        assert torch.allclose(score, (normalise_rows(queries) * normalise_rows(bank)[index]).sum(1), atol=1e-5)


def real_patches(encoder, seed: int, style_side: int, target_side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """relu3_1 patch banks of two random images: (style bank, target queries)."""
    generator = torch.Generator().manual_seed(seed)
    style = torch.rand(1, 3, style_side, style_side, generator=generator)
    target = torch.rand(1, 3, target_side, target_side, generator=generator)
    return (extract_patches(encoder(style, ["relu3_1"])["relu3_1"]),
            extract_patches(encoder(target, ["relu3_1"])["relu3_1"]))


def test_exact_matcher_on_real_features(encoder):
    bank, queries = real_patches(encoder, 2, 64, 40)
    index, _ = ExactMatcher(bank, slices=3).match(queries)
    assert torch.equal(index, brute_force(queries, bank))


def test_a_patch_finds_itself():
    bank = torch.rand(50, 27)
    index, score = ExactMatcher(bank).match(bank[[3, 17, 42]] * 5.0)  # scale does not matter
    assert index.tolist() == [3, 17, 42]
    assert torch.allclose(score, torch.ones(3))


def test_zero_patches_do_not_divide_by_zero():
    bank = torch.rand(20, 9)
    bank[0] = 0
    index, score = ExactMatcher(bank).match(torch.zeros(4, 9))
    assert torch.isfinite(score).all()


def test_variety_spreads_patch_use():
    generator = torch.Generator().manual_seed(3)
    bank = torch.rand(40, 16, generator=generator)
    queries = bank[0] + 0.05 * torch.randn(200, 16, generator=generator)  # all near patch 0
    plain, _ = ExactMatcher(bank).match(queries)
    varied, _ = ExactMatcher(bank, variety=0.5).match(queries)
    assert len(torch.unique(varied)) > len(torch.unique(plain))


def test_chunk_rows_respects_budget_and_slices():
    assert chunk_rows(1000, 1000 * 4 * 10, 0, 500) == 10
    assert chunk_rows(1000, 1, 0, 500) == 1
    assert chunk_rows(1000, 10**12, 0, 500) == 500
    assert chunk_rows(1000, 10**12, 4, 500) == 125


def test_extract_patches_layout():
    features = torch.arange(2 * 4 * 5, dtype=torch.float32).view(1, 2, 4, 5)
    patches = extract_patches(features)
    assert patches.shape == (2 * 3, 2 * 9)
    # first patch, channel 0 is the top-left 3x3 block of channel 0
    assert patches[0, :9].tolist() == features[0, 0, :3, :3].flatten().tolist()


def test_reduced_precision_matcher_agrees_with_exact_on_real_features(encoder):
    from doodle.matching import ReducedPrecisionMatcher

    bank, queries = real_patches(encoder, 4, 96, 64)
    exact, exact_score = ExactMatcher(bank).match(queries)
    fast, fast_score = ReducedPrecisionMatcher(bank, slices=3).match(queries)
    # Disagreements may only happen between near-ties that bfloat16 cannot tell apart.
    assert (fast == exact).float().mean() > 0.98
    assert (exact_score - fast_score).max() < 2e-3
    index, _ = ReducedPrecisionMatcher(bank).match(bank[[5, 77]])
    assert index.tolist() == [5, 77]


def test_faiss_matcher_agrees_with_exact_on_random_and_real_features(encoder):
    from doodle.matching import FaissMatcher

    generator = torch.Generator().manual_seed(5)
    bank, queries = torch.randn(800, 72, generator=generator), torch.randn(200, 72, generator=generator)
    index, score = FaissMatcher(bank).match(queries)  # 72 dims: no projection, an exact flat index
    assert torch.equal(index, brute_force(queries, bank))
    assert torch.allclose(score, (normalise_rows(queries) * normalise_rows(bank)[index]).sum(1), atol=1e-5)

    bank, queries = real_patches(encoder, 4, 96, 64)  # 2,304 dims, projected to 128
    exact, exact_score = ExactMatcher(bank).match(queries)
    fast, fast_score = FaissMatcher(bank, dims=128).match(queries)
    assert (fast == exact).float().mean() > 0.9
    # A miss is a near-tie: the patch found is almost as similar as the best one.
    assert (exact_score - fast_score).mean() < 1e-3
    assert FaissMatcher(bank).match(bank[[9, 100]])[0].tolist() == [9, 100]


def test_label_partition_matches_exact_inside_labels(encoder):
    from doodle.matching import LabelPartitionedMatcher
    from doodle.patch_loss import patch_labels, semantic_descriptors

    bank, queries = real_patches(encoder, 6, 96, 64)  # relu3_1: 24x24 style cells, 16x16 target cells
    style_map = torch.zeros(1, 2, 24, 24)
    style_map[:, 0, :, :12], style_map[:, 1, :, 12:] = 1, 1
    target_map = torch.zeros(1, 2, 16, 16)
    target_map[:, 1, :8], target_map[:, 0, 8:] = 1, 1
    style_map_patches, target_map_patches = extract_patches(style_map), extract_patches(target_map)
    bank_descriptors = semantic_descriptors(bank, style_map_patches, 1.0)
    query_descriptors = semantic_descriptors(queries, target_map_patches, 1.0)
    exact, _ = ExactMatcher(bank_descriptors).match(query_descriptors)
    bank_labels, _ = patch_labels(style_map_patches, 2)
    touches, main = patch_labels(target_map_patches, 2)
    for inner in ("exact", "bf16"):
        partitioned, _ = LabelPartitionedMatcher(bank_descriptors, bank_labels, main, inner).match(query_descriptors)
        inside = touches.sum(1) == 1
        assert torch.equal(partitioned[inside], exact[inside])
        # every match, boundary or not, carries the query's main label
        assert bank_labels[partitioned, main].all()


def test_label_partition_falls_back_when_a_label_is_missing_from_the_style():
    from doodle.matching import LabelPartitionedMatcher

    bank = torch.rand(30, 8)
    bank_labels = torch.zeros(30, 2, dtype=torch.bool)
    bank_labels[:, 0] = True  # label 1 never appears in the style
    index, _ = LabelPartitionedMatcher(bank, bank_labels, torch.tensor([0, 1, 1])).match(bank[[4, 7, 21]])
    assert index.tolist() == [4, 7, 21]


def test_auto_matcher_follows_the_hardware(monkeypatch):
    from doodle.matching import resolve_matcher

    cpu = torch.device("cpu")
    for avx512_bf16, amx, expected in ((False, False, "exact"), (True, False, "bf16"), (False, True, "bf16")):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda v=avx512_bf16: v, raising=False)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda v=amx: v, raising=False)
        assert resolve_matcher("auto", cpu) == expected, (avx512_bf16, amx)
        assert resolve_matcher("faiss", cpu) == "faiss" and resolve_matcher("exact", cpu) == "exact"
    assert resolve_matcher("auto", torch.device("cuda")) == "bf16"  # every CUDA GPU has bfloat16 units


def test_reduced_precision_matcher_on_random_features():
    from doodle.matching import ReducedPrecisionMatcher

    generator = torch.Generator().manual_seed(8)
    bank, queries = torch.randn(2000, 96, generator=generator), torch.randn(400, 96, generator=generator)
    expected = brute_force(queries, bank)
    for options in ({}, {"slices": 5}):
        index, score = ReducedPrecisionMatcher(bank, **options).match(queries)
        assert (index == expected).float().mean() > 0.98, options
        best = (normalise_rows(queries) * normalise_rows(bank)[expected]).sum(1)
        assert (best - score).max() < 5e-3  # a miss is a near-tie
