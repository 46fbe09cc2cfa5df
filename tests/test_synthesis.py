import numpy as np
import pytest
import torch

from doodle import DoodleError, PaintConfig, paint
from doodle.style_bank import StyleCopy
from doodle.terms import build_terms

from .helpers import BLUE, RED, redness, textured_style, two_region_map

FAST = PaintConfig(phases=1, iterations=6)


def test_doodle_mode_puts_each_style_where_the_map_says(encoder, style_pair):
    style, style_map = style_pair  # orange stripes under RED (left), blue dots under BLUE (right)
    doodle_map = two_region_map(48, 48, BLUE, RED)  # swapped: orange must now appear on the right
    result = paint(style, style_map=style_map, target_map=doodle_map,
                   config=PaintConfig(phases=1, iterations=30), encoder=encoder)
    assert result.record.mode == "doodle"
    assert result.image.shape == (48, 48, 3)
    left, right = result.image[:, :20], result.image[:, 28:]
    assert redness(right) > redness(left) + 0.3


def test_semantic_style_transfer_mode(encoder, style_pair):
    style, style_map = style_pair
    content = np.full((48, 40, 3), 0.5, np.float32)
    content[:, 20:] = 0.2
    result = paint(style, style_map=style_map, content=content, content_map=two_region_map(48, 40),
                   config=FAST, encoder=encoder)
    assert result.record.mode == "semantic"
    assert result.image.shape == (48, 40, 3)
    assert set(result.record.phases[0].losses) == {"style:relu3_1", "style:relu4_1", "content:relu4_2", "smoothness"}


def test_plain_style_transfer_mode(encoder, style_pair):
    style, _ = style_pair
    result = paint(style, content=textured_style(40, 56, seed=5), config=FAST.with_overrides(init="content"),
                   encoder=encoder)
    assert result.record.mode == "style" and result.image.shape == (40, 56, 3)


def test_texture_mode_uses_size(encoder, style_pair):
    style, _ = style_pair
    result = paint(style, size=(56, 32), config=FAST, encoder=encoder)
    assert result.record.mode == "texture" and result.image.shape == (32, 56, 3)
    assert np.isfinite(result.image).all() and 0 <= result.image.min() and result.image.max() <= 1


def test_seed_makes_runs_reproducible(encoder, style_pair):
    style, style_map = style_pair
    run = lambda seed: paint(style, size=(32, 32), config=FAST.with_overrides(seed=seed), encoder=encoder).image
    assert np.array_equal(run(1), run(1))
    assert not np.array_equal(run(1), run(2))


def test_progress_callback_and_interrupt(encoder, style_pair):
    style, style_map = style_pair
    seen = []

    def callback(event):
        seen.append((event.phase, event.evaluation, event.total))
        if event.evaluation == 3:
            raise KeyboardInterrupt

    result = paint(style, style_map=style_map, target_map=two_region_map(48, 48), config=FAST,
                   callback=callback, encoder=encoder)
    assert [s[1] for s in seen] == [1, 2, 3]
    assert result.record.interrupted and result.image.shape == (48, 48, 3)


def test_losses_fall_over_a_phase(encoder, style_pair):
    style, style_map = style_pair
    totals = []
    paint(style, style_map=style_map, target_map=two_region_map(48, 48), config=PaintConfig(phases=1, iterations=15),
          callback=lambda event: totals.append(event.total), encoder=encoder)
    assert totals[-1] < 0.7 * totals[0]


def test_small_images_drop_phases_with_a_note(encoder, style_pair):
    style, style_map = style_pair
    notes = []
    result = paint(style, style_map=style_map, target_map=two_region_map(48, 48),
                   config=PaintConfig(phases=3, iterations=2), on_note=notes.append, encoder=encoder)
    assert len(result.record.phases) == 2 and any("using 2" in n for n in notes)


def test_too_small_image_says_the_smallest_size(encoder):
    with pytest.raises(DoodleError, match="at least 24 px"):
        paint(textured_style(16, 16), size=(16, 16), config=FAST, encoder=encoder)


def test_map_on_one_side_only_is_refused(encoder, style_pair):
    style, style_map = style_pair
    with pytest.raises(DoodleError, match="one side"):
        paint(style, style_map=style_map, size=(48, 48), config=FAST, encoder=encoder)
    with pytest.raises(DoodleError, match="one side"):
        paint(style, target_map=style_map, config=FAST, encoder=encoder)


def test_aspect_mismatch_is_refused(encoder, style_pair):
    style, _ = style_pair
    with pytest.raises(DoodleError, match="aspect"):
        paint(style, style_map=two_region_map(48, 96), target_map=two_region_map(48, 48), config=FAST,
              encoder=encoder)


def test_uniform_and_path_init(encoder, style_pair, tmp_path):
    from doodle.images import write_image

    style, style_map = style_pair
    path = tmp_path / "start.png"
    write_image(path, np.zeros((48, 48, 3), np.float32))
    for init in ("uniform", str(path)):
        result = paint(style, style_map=style_map, target_map=two_region_map(48, 48),
                       config=FAST.with_overrides(init=init), encoder=encoder)
        assert result.image.shape == (48, 48, 3)
    with pytest.raises(DoodleError, match="--init content"):
        paint(style, size=(48, 48), config=FAST.with_overrides(init="content"), encoder=encoder)


def test_strong_features_cannot_outvote_the_map():
    import torch

    from doodle.matching import ExactMatcher
    from doodle.patch_loss import semantic_descriptors

    generator = torch.Generator().manual_seed(0)
    style_features = torch.rand(40, 18, generator=generator)
    style_maps = torch.zeros(40, 18)
    style_maps[:20, :9] = 1  # label A: first 20 patches
    style_maps[20:, 9:] = 1  # label B
    # queries copy label-B features exactly, 1000 times stronger, but are painted label A
    queries = 1000 * style_features[20:30]
    query_maps = torch.zeros(10, 18)
    query_maps[:, :9] = 1
    bank = semantic_descriptors(style_features, style_maps, 1.0)
    index, _ = ExactMatcher(bank).match(semantic_descriptors(queries, query_maps, 1.0))
    assert (index < 20).all()
    unmapped, _ = ExactMatcher(semantic_descriptors(style_features, None, 0.0)).match(queries)
    assert unmapped.tolist() == list(range(20, 30))


def test_style_scales_with_size_except_for_textures(encoder, style_pair):
    style, style_map = style_pair
    sizes = []

    class Spy:
        info, pooling = encoder.info, encoder.pooling

        def __call__(self, image, layers):
            sizes.append(tuple(image.shape[-2:]))
            return encoder(image, layers)

    paint(style, style_map=style_map, target_map=two_region_map(24, 24), size=(48, 48),
          config=PaintConfig(phases=1, iterations=1), encoder=Spy())
    assert sizes[0] == (96, 96)  # the doodle was scaled 2x, so the style is too
    sizes.clear()
    paint(style, size=(96, 64), config=PaintConfig(phases=1, iterations=1), encoder=Spy())
    assert sizes[0] == (48, 48)  # a texture keeps the style's own scale


def test_bad_arrays_and_size_aspect_are_refused(encoder, style_pair):
    style, style_map = style_pair
    # One loader for every door: uint8 arrays are 0-255 images, floats must already be in [0, 1].
    as_bytes = np.round(style * 255).astype(np.uint8)
    from_bytes = paint(as_bytes, size=(48, 48), config=FAST, encoder=encoder).image
    assert np.array_equal(from_bytes, paint(as_bytes / np.float32(255), size=(48, 48), config=FAST,
                                            encoder=encoder).image)
    with pytest.raises(DoodleError, match="floats in"):
        paint(style * 255, size=(48, 48), config=FAST, encoder=encoder)
    with pytest.raises(DoodleError, match="HxWx3"):
        paint(style[..., 0], size=(48, 48), config=FAST, encoder=encoder)
    with pytest.raises(DoodleError, match="uint8"):
        paint(style, style_map=style_map.astype(float), target_map=style_map, config=FAST, encoder=encoder)
    with pytest.raises(DoodleError, match="aspect"):
        paint(style, content=style, size=(96, 48), config=FAST, encoder=encoder)


def test_convergence_stop_ends_a_phase_early(encoder, style_pair):
    style, style_map = style_pair
    config = PaintConfig(phases=1, iterations=30, final_iterations=0)
    loose = paint(style, size=(32, 32), config=config.with_overrides(tolerance=0.9), encoder=encoder).record
    assert loose.phases[0].converged and loose.phases[0].evaluations < 30
    full = paint(style, size=(32, 32), config=config.with_overrides(tolerance=0.0), encoder=encoder).record
    assert not full.phases[0].converged and full.phases[0].evaluations == 30


def test_fast_and_reference_paths_agree(encoder, style_pair):
    style, style_map = style_pair
    doodle_map = two_region_map(48, 48, BLUE, RED)
    base = PaintConfig(phases=1, iterations=20, tolerance=0.0)
    results = {}
    for name, changes in {"fast": dict(precision="bf16", matcher="bf16", search="label", rematch_every=4),
                          "reference": dict(precision="fp32", matcher="exact", search="all", rematch_every=1)}.items():
        result = paint(style, style_map=style_map, target_map=doodle_map, config=base.with_overrides(**changes),
                       encoder=encoder)
        assert (result.record.precision, result.record.matcher) == (changes["precision"], changes["matcher"])
        phase = result.record.phases[0]
        assert phase.searches == 2 * -(-20 // changes["rematch_every"])  # two style layers
        assert phase.network_seconds > 0 and phase.match_seconds > 0
        results[name] = result
    fast, reference = (results[name] for name in ("fast", "reference"))
    assert redness(fast.image[:, 28:]) > redness(fast.image[:, :20]) + 0.3
    style_loss = lambda r: sum(v for k, v in r.record.phases[0].losses.items() if k.startswith("style"))
    assert style_loss(fast) < 1.2 * style_loss(reference)


def test_masked_gram_puts_each_style_where_the_map_says(encoder, style_pair):
    style, style_map = style_pair
    doodle_map = two_region_map(48, 48, BLUE, RED)  # swapped: orange must now appear on the right
    # From grey noise, so every colour must come from the Grams; shallow layers carry colour, and
    # Adam climbs out of grey where L-BFGS without a line search stalls for dozens of steps.
    config = PaintConfig(phases=1, iterations=40, style_loss="gram", style_layers="relu1_1,relu2_1,relu3_1",
                         init="uniform", optimizer="adam", learning_rate=0.05)
    result = paint(style, style_map=style_map, target_map=doodle_map, config=config, encoder=encoder)
    assert set(result.record.phases[0].losses) == {"gram:relu1_1", "gram:relu2_1", "gram:relu3_1", "smoothness"}
    left, right = result.image[:, :20], result.image[:, 28:]
    assert redness(right) > redness(left) + 0.5
    # one Gram for the whole picture has no idea where orange belongs
    plain = paint(style, size=(48, 48), config=config, encoder=encoder).image
    assert abs(redness(plain[:, 28:]) - redness(plain[:, :20])) < 0.2


def test_patch_and_gram_losses_combine_with_weights(encoder, style_pair):
    style, style_map = style_pair
    config = FAST.with_overrides(style_loss="patch:1,gram:0.5", style_layers="relu3_1:1,relu4_1:3")
    result = paint(style, style_map=style_map, target_map=style_map, config=config, encoder=encoder)
    assert set(result.record.phases[0].losses) == {"style:relu3_1", "gram:relu3_1", "style:relu4_1",
                                                   "gram:relu4_1", "smoothness"}
    features = {"relu3_1": torch.rand(1, 8, 6, 6), "relu4_1": torch.rand(1, 8, 3, 3)}
    copy = StyleCopy(torch.rand(1, 3, 24, 24), None, None, 1.0, 1.0, True)
    terms = build_terms(config.with_overrides(style_weight=2.0), (24, 24), [(copy, features)], None, None, "exact")
    weights = {term.name: term.weight for term in terms}
    # style weight x loss weight x layer share (1/4 and 3/4)
    assert weights == pytest.approx({"style:relu3_1": 0.5, "gram:relu3_1": 0.25, "style:relu4_1": 1.5,
                                     "gram:relu4_1": 0.75, "smoothness": 1.0})


def stripes(vertical: bool = False, period: int = 8, size: int = 64) -> np.ndarray:
    """Dark and light orange bands, horizontal unless `vertical`."""
    rows = np.arange(size)[:, None] * np.ones((1, size))
    bands = ((rows // (period // 2)) % 2).astype(np.float32)
    if vertical:
        bands = bands.T
    return np.stack([0.3 + 0.6 * bands, 0.2 + 0.4 * bands, 0.1 + 0 * bands], -1).astype(np.float32)


def test_two_styles_with_blend_one_zero_equal_the_first_alone(encoder, style_pair):
    style, _ = style_pair
    other = stripes()[:48, :48]
    config = FAST.with_overrides(seed=3)
    alone = paint(style, size=(40, 40), config=config, encoder=encoder)
    blended = paint([style, other], size=(40, 40), config=config.with_overrides(style_blend=(1, 0)), encoder=encoder)
    assert np.array_equal(alone.image, blended.image)
    assert any("blend weight 0" in text for text in blended.record.notes)
    mixed = paint([style, other], size=(40, 40), config=config.with_overrides(style_blend=(0.5, 0.5)), encoder=encoder)
    assert not np.array_equal(alone.image, mixed.image)


def test_blend_weights_set_each_styles_share(encoder):
    red, blue = np.zeros((48, 48, 3), np.float32), np.zeros((48, 48, 3), np.float32)
    red[..., 0], blue[..., 2] = 0.9, 0.9
    red += np.random.default_rng(0).normal(0, 0.05, red.shape).astype(np.float32)
    blue += np.random.default_rng(1).normal(0, 0.05, blue.shape).astype(np.float32)
    red, blue = red.clip(0, 1), blue.clip(0, 1)
    # Gram: from grey noise, so the colours come from the blended targets alone
    config = PaintConfig(phases=1, iterations=30, init="uniform", optimizer="adam", learning_rate=0.05,
                         style_layers="relu1_1,relu2_1,relu3_1", style_loss="gram", tolerance=0)
    reds = {blend: redness(paint([red, blue], size=(40, 40), config=config.with_overrides(style_blend=blend),
                                 encoder=encoder).image) for blend in ((0.8, 0.2), (0.2, 0.8))}
    assert reds[0.8, 0.2] > reds[0.2, 0.8] + 0.5, reds
    # Patches: the blend sets each style's share of the pooled bank (0.2 beside 0.8: a quarter of its patches)
    features = {"relu3_1": torch.rand(1, 8, 12, 12)}  # 100 patches per style
    copies = [(StyleCopy(torch.rand(1, 3, 48, 48), None, None, w, w / 0.8, True), features)
              for w in (0.8, 0.2)]
    term = build_terms(PaintConfig(style_layers="relu3_1"), (48, 48), copies, None, None, "exact")[0]
    assert term.term.style_columns.shape[1] == 100 + 25


def test_several_styles_need_one_map_each_and_one_weight_each(encoder, style_pair):
    style, style_map = style_pair
    with pytest.raises(DoodleError, match="one map per"):
        paint([style, style], style_map=[style_map], target_map=style_map, config=FAST, encoder=encoder)
    with pytest.raises(DoodleError, match="one weight per"):
        paint([style, style], size=(32, 32), config=FAST.with_overrides(style_blend=(1, 2, 3)), encoder=encoder)
    with pytest.raises(DoodleError, match="every style a map"):
        paint([style, style], style_map=[style_map, None], target_map=style_map, config=FAST, encoder=encoder)


def band_period(image: np.ndarray) -> float:
    """The dominant period (pixels) of horizontal bands: the strongest frequency of the row profile."""
    profile = image.mean(axis=(1, 2)) - image.mean()
    spectrum = np.abs(np.fft.rfft(profile))[1:]
    return len(profile) / (1 + int(np.argmax(spectrum)))


def test_style_scale_resizes_the_strokes(encoder):
    config = PaintConfig(phases=1, iterations=40, style_layers="relu2_1,relu3_1", smoothness=0.1, tolerance=0)
    periods = {scale: band_period(paint(stripes(period=8), size=(64, 64), encoder=encoder,
                                        config=config.with_overrides(style_scale=scale)).image)
               for scale in (1.0, 2.0)}
    assert 6 <= periods[1.0] <= 11 and 13 <= periods[2.0] <= 22


def gradient_balance(image: np.ndarray) -> float:
    """Energy of horizontal changes over vertical ones: high for vertical stripes, low for horizontal."""
    grey = image.mean(2)
    return float(np.abs(np.diff(grey, axis=1)).mean() / np.abs(np.diff(grey, axis=0)).mean())


def test_style_rotations_let_strokes_turn(encoder):
    config = PaintConfig(phases=1, iterations=40, style_layers="relu2_1,relu3_1", smoothness=0.1, tolerance=0)
    plain = paint(stripes(), size=(64, 64), config=config, encoder=encoder)
    turned = paint(stripes(), size=(64, 64), config=config.with_overrides(style_rotations=(90,)), encoder=encoder)
    assert gradient_balance(plain.image) < 0.5  # only horizontal bands to copy
    assert gradient_balance(turned.image) > 2 * gradient_balance(plain.image)
    assert any("rotated or rescaled copies" in text for text in turned.record.notes)


def chroma_error(image: np.ndarray, reference: np.ndarray) -> float:
    from skimage.color import rgb2yiq

    return float(np.abs(rgb2yiq(image)[..., 1:] - rgb2yiq(reference)[..., 1:]).mean())


def test_colors_original_keeps_the_contents_chroma(encoder, style_pair):
    style, _ = style_pair
    content = textured_style(40, 48, seed=4)[..., ::-1].copy()  # blue where the style is orange
    config = FAST.with_overrides(init="uniform", content_weight=0.05)
    painted = paint(style, content=content, config=config, encoder=encoder).image
    kept = paint(style, content=content, config=config.with_overrides(colors="original"), encoder=encoder).image
    assert chroma_error(kept, content) < 0.2 * chroma_error(painted, content)
    with pytest.raises(DoodleError, match="needs --content"):
        paint(style, size=(32, 32), config=FAST.with_overrides(colors="original"), encoder=encoder)


def test_colors_match_moves_each_label_to_its_style_colours(encoder, style_pair):
    style, style_map = style_pair
    doodle_map = two_region_map(48, 48, BLUE, RED)
    config = PaintConfig(phases=1, iterations=2, init="uniform")  # too short to reach the style's colours
    painted = paint(style, style_map=style_map, target_map=doodle_map, config=config, encoder=encoder).image
    matched = paint(style, style_map=style_map, target_map=doodle_map, config=config.with_overrides(colors="match"),
                    encoder=encoder).image

    def error(image):  # orange stripes belong on the right now, blue dots on the left
        return (np.abs(image[:, 26:].mean((0, 1)) - style[:, :22].mean((0, 1))).sum()
                + np.abs(image[:, :22].mean((0, 1)) - style[:, 26:].mean((0, 1))).sum())

    assert error(matched) < 0.3 * error(painted)


def test_adam_optimiser_lowers_the_loss(encoder, style_pair):
    style, style_map = style_pair
    totals = []
    config = PaintConfig(phases=1, iterations=25, optimizer="adam", learning_rate=0.05, tolerance=0)
    result = paint(style, style_map=style_map, target_map=style_map, config=config, encoder=encoder,
                   callback=lambda event: totals.append(event.total))
    assert len(totals) == 25 and totals[-1] < 0.7 * totals[0]
    lbfgs = paint(style, style_map=style_map, target_map=style_map, config=config.with_overrides(optimizer="lbfgs"),
                  encoder=encoder)
    assert not np.allclose(result.image, lbfgs.image, atol=1e-3)


def test_colors_match_with_a_map_at_another_resolution(encoder, style_pair):
    style, style_map = style_pair
    half_map = style_map[::2, ::2].copy()  # a map may be smaller than its image
    result = paint(style, style_map=half_map, target_map=style_map, config=FAST.with_overrides(colors="match"),
                   encoder=encoder)
    assert result.image.shape == (48, 48, 3)


def test_errors_name_the_files_of_the_styles_kept(encoder, style_pair, tmp_path):
    from PIL import Image

    style, style_map = style_pair
    for name, image in (("a.png", style), ("b.png", style)):
        Image.fromarray((image * 255).astype(np.uint8)).save(tmp_path / name)
    Image.fromarray(style_map).save(tmp_path / "a_sem.png")
    Image.fromarray(style_map[:, :24]).save(tmp_path / "b_sem.png")  # wrong aspect
    with pytest.raises(DoodleError, match="b_sem.png"):
        paint([tmp_path / "a.png", tmp_path / "b.png"], style_map=[tmp_path / "a_sem.png", tmp_path / "b_sem.png"],
              target_map=style_map, config=FAST.with_overrides(style_blend=(0, 1)), encoder=encoder)


def test_copies_are_not_made_for_gram_alone(encoder, style_pair):
    style, _ = style_pair
    result = paint(style, size=(32, 32), encoder=encoder,
                   config=FAST.with_overrides(style_loss="gram", style_rotations=(90,)))
    assert any("not used" in text for text in result.record.notes)


def test_style_scales_add_resized_copies_to_the_bank(encoder, style_pair):
    style, style_map = style_pair
    sizes = {}
    for scales in ((), (0.75, 1.5)):
        result = paint(style, style_map=style_map, target_map=style_map, encoder=encoder,
                       config=FAST.with_overrides(style_scales=scales))
        sizes[scales] = result.record.estimated_bytes
        assert any("rescaled copies" in text for text in result.record.notes) == bool(scales)
    assert sizes[(0.75, 1.5)] > sizes[()]  # 1 + 0.56 + 2.25 times the style's patches


def test_a_loss_that_overflows_at_once_is_an_error_not_the_starting_image(encoder, style_pair):
    style, style_map = style_pair
    config = PaintConfig(phases=1, iterations=5)
    object.__setattr__(config, "style_weight", 1e300)  # past the check: float32 makes it inf
    with pytest.raises(DoodleError, match="no longer finite.*not written; lower --style-weight"):
        paint(style, style_map=style_map, target_map=two_region_map(32, 32), config=config, encoder=encoder)


class TurnsNan:
    """Wraps a loss term: its own value until the `after`-th evaluation, nan from then on."""

    def __init__(self, term, after):
        self.term, self.after, self.calls = term, after, 0
        self.layer, self.stats = term.layer, term.stats

    def __call__(self, image, features):
        self.calls += 1
        value = self.term(image, features)
        return value * float("nan") if self.calls > self.after else value


def test_a_loss_that_turns_nan_stops_the_phase_on_its_best_finite_image_and_says_so(encoder, style_pair,
                                                                                       monkeypatch):
    import doodle.synthesis

    def poisoned_terms(*args, **kwargs):
        terms = build_terms(*args, **kwargs)
        for item in terms:
            if item.name == "smoothness":
                item.term = TurnsNan(item.term, after=3)
        return terms

    monkeypatch.setattr(doodle.synthesis, "build_terms", poisoned_terms)
    style, style_map = style_pair
    notes = []
    result = paint(style, style_map=style_map, target_map=two_region_map(32, 32),
                   config=PaintConfig(phases=1, iterations=10, tolerance=0), encoder=encoder, on_note=notes.append)
    phase = result.record.phases[0]
    assert phase.non_finite and phase.evaluations == 4
    assert all(np.isfinite(value) for value in phase.losses.values()) and np.isfinite(result.image).all()
    said = [text for text in notes if "no longer finite" in text]
    assert len(said) == 1 and "(smoothness)" in said[0] and "--smoothness" in said[0], notes
