"""The lane simulator: frames, labels, mirror symmetry, and the closed-loop drive."""

import math

import numpy as np
import pytest
from PIL import Image

from chapter2.standins import lanesim


def test_dataset_shapes_dtype_and_label_range():
    X, Y = lanesim.make_dataset(64, seed=3)
    assert X.shape == (64,) + lanesim.FRAME_SHAPE == (64, 120, 160, 3)
    assert X.dtype == np.uint8
    assert Y.shape == (64,) and Y.dtype == np.float32
    assert np.all(np.isfinite(Y)) and Y.min() >= -1 and Y.max() <= 1
    # Labels use the whole range and both signs; frames are not blank.
    assert Y.std() > 0.2 and (Y < -0.2).any() and (Y > 0.2).any()
    assert X.reshape(64, -1).std(axis=1).min() > 5


def test_dataset_deterministic_per_seed():
    X1, Y1 = lanesim.make_dataset(24, seed=5)
    X2, Y2 = lanesim.make_dataset(24, seed=5)
    X3, Y3 = lanesim.make_dataset(24, seed=6)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(Y1, Y2)
    assert not np.array_equal(Y1, Y3)
    assert np.mean(X1 != X3) > 0.5


def test_dataset_rejects_negative_size():
    with pytest.raises(ValueError, match="n must be"):
        lanesim.make_dataset(-1)


def test_label_signs_follow_donkey_convention():
    label = lanesim.steering_label
    assert label(-0.15, 0.0, 0.0) > 0.1  # left of centre, parallel: steer right
    assert label(0.15, 0.0, 0.0) < -0.1  # right of centre: steer left
    assert label(0.0, 0.0, 0.0) == 0.0
    assert label(0.0, 0.3, 0.0) < -0.1  # pointing right of the lane: steer left
    assert label(0.0, -0.3, 0.0) > 0.1
    assert label(0.0, 0.0, 0.5) > 0.1  # lane bends right: steer right
    assert label(0.0, 0.0, -0.5) < -0.1
    assert abs(float(label(0.0, 0.0, 1e-9))) < 1e-6  # continuous at straight lanes
    many = label(np.linspace(-1, 1, 50), np.linspace(-1, 1, 50), np.linspace(1, -1, 50))
    assert many.min() >= -1 and many.max() <= 1


def _plain_scenes(offsets):
    """Straight lanes, car parallel, white solid lines on a dark plain floor, no noise."""
    n = len(offsets)
    sc = lanesim.sample_scenes(n, seed=0)
    sc.update(
        offset=np.asarray(offsets, float),
        heading=np.zeros(n),
        curvature=np.zeros(n),
        lane_width=np.full(n, 0.6),
        floor=np.full((n, 3), 0.2),
        line_left=np.ones((n, 3)),
        line_right=np.ones((n, 3)),
        line_width=np.full((n, 2), 0.04),
        grad_x=np.zeros(n),
        grad_y=np.zeros(n),
        bright=np.ones(n),
    )
    for kind in ("dash", "gap"):
        sc[kind + "_freq"] = np.zeros((n, 2))
        sc[kind + "_duty"] = np.full((n, 2), 2.0)
    return sc


def test_image_and_label_agree_on_which_side_the_lane_is():
    # A car left of centre sees the lane's middle right of the image's middle,
    # and its label steers right.
    offsets = [-0.15, 0.15]
    sc = _plain_scenes(offsets)
    sc["texture_index"] = np.zeros(2, int)
    X = lanesim.render_scenes(sc, seed=0).astype(float).mean(axis=3)
    middles = []
    for frame in X:
        for row in frame[50:61]:  # 0.4 to 0.9 m ahead: both lines in view
            line = np.nonzero(row > 150)[0]
            assert len(line) and line[-1] - line[0] > 25
            middles.append((line[0] + line[-1]) / 2)
    middles = np.reshape(middles, (2, -1))
    assert (middles[0] > 79.5 + 5).all() and (middles[1] < 79.5 - 5).all()
    Y = lanesim.steering_label(sc["offset"], sc["heading"], sc["curvature"])
    assert Y[0] > 0 > Y[1]


def test_mirrored_scene_renders_the_flipped_frame_with_negated_label():
    scenes = lanesim.sample_scenes(24, seed=2)
    mirrored = lanesim.mirror_scenes(scenes)
    X = lanesim.render_scenes(scenes, seed=2)
    Xm = lanesim.render_scenes(mirrored, seed=2)
    diff = np.abs(Xm.astype(int) - X[:, :, ::-1].astype(int))
    assert diff.max() <= 1 and np.mean(diff == 0) > 0.999
    Y = lanesim.steering_label(scenes["offset"], scenes["heading"], scenes["curvature"])
    Ym = lanesim.steering_label(mirrored["offset"], mirrored["heading"], mirrored["curvature"])
    np.testing.assert_array_equal(Ym, -Y)
    assert np.abs(Y).max() > 0.3  # not a trivially symmetric set


def test_evaluation_track_closes_and_bends_both_ways():
    track = lanesim.evaluation_track()
    gap, turn = track.closure
    assert gap < 1e-9 and abs(turn) < 1e-9
    curvatures = [p[4] for p in track.pieces]
    assert min(curvatures) < 0 < max(curvatures)  # left and right bends
    assert len(set(curvatures)) > 3  # not one radius throughout
    # Lateral distance is signed: positive right of the driving direction.
    x, y, h = track.point(9.0)
    n, s = track.locate(np.array([x + 0.1 * math.sin(h)]), np.array([y - 0.1 * math.cos(h)]))
    assert n[0] == pytest.approx(0.1, abs=1e-3) and s[0] == pytest.approx(9.0, abs=1e-3)


def test_ground_truth_controller_drives_and_no_steering_fails():
    refs = lanesim.drive_references(seed=1, seconds=20)
    gt, zero = refs["ground_truth"], refs["no_steering"]
    for r in (gt, zero):
        assert set(r) == {
            "autonomy",
            "interventions",
            "mean_abs_offset",
            "max_abs_offset",
            "distance",
            "sim_seconds",
            "scored",
        }
        assert r["sim_seconds"] == pytest.approx(20) and r["distance"] == pytest.approx(
            20 * lanesim.SPEED
        )
        assert r["scored"] is True
    assert gt["interventions"] == 0 and gt["autonomy"] == pytest.approx(100)
    assert gt["mean_abs_offset"] < 0.05
    assert zero["interventions"] >= 5 and zero["autonomy"] < 0
    assert zero["mean_abs_offset"] > 2 * gt["mean_abs_offset"]


def test_drive_with_a_constant_predictor_gives_finite_metrics_and_a_gif(tmp_path):
    seen = []

    def predict(batch):
        seen.append((batch.shape, batch.dtype))
        return np.full((len(batch), 1), 0.3, np.float32)

    notes = []
    result = lanesim.drive(predict, seed=1, seconds=4, log=notes.append)
    assert notes[0] == "drive: 4 simulated s on the evaluation course (80 steps)"
    assert seen[0] == ((1, 120, 160, 3), np.uint8) and len(seen) == 4 * lanesim.STEP_HZ
    for key in ("autonomy", "mean_abs_offset", "distance", "sim_seconds"):
        assert math.isfinite(result[key])
    assert result["interventions"] >= 1  # steering right on a left-hand loop
    frames = result["frames"]
    assert len(frames) == 4 * lanesim.STEP_HZ // lanesim.RECORD_EVERY
    assert (
        frames[0].dtype == np.uint8 and frames[0].shape[0] == 120 + 40 and frames[0].shape[2] == 3
    )
    assert result["scored"] is False  # 4 s: too short for the figure to mean anything
    path = tmp_path / "drive.gif"
    path.write_bytes(b"old")
    lanesim.save_gif(frames, path)
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.n_frames == len(frames)
        assert gif.size == (2 * frames[0].shape[1], 2 * frames[0].shape[0])  # drawn 2x2 per pixel
    assert [p.name for p in tmp_path.iterdir()] == ["drive.gif"]  # no temporary left behind
    with pytest.raises(ValueError, match="no frames"):
        lanesim.save_gif([], tmp_path / "empty.gif")
    assert not (tmp_path / "empty.gif").exists()


def test_drive_without_recording_and_with_nan_predictions():
    result = lanesim.drive(lambda b: np.full(len(b), np.nan), seconds=1, record=False, log=None)
    assert "frames" not in result
    assert all(math.isfinite(result[k]) for k in ("autonomy", "mean_abs_offset"))
    with pytest.raises(ValueError, match="no steering angle"):
        lanesim.drive(lambda b: np.zeros(0), seconds=0.5, record=False, log=None)


def test_each_gif_frame_carries_time_and_score_below_an_untouched_camera_view():
    from chapter2.standins.lanesim import evaluation as evaluation

    seen = []

    def predict(batch):
        seen.append(batch[0].copy())
        return np.ones(1)  # hard right: interventions on a left-hand loop

    frames = lanesim.drive(predict, seconds=2.5, log=None)["frames"]
    first, last = frames[0], frames[-1]
    # The camera view is exactly what the model saw: nothing is drawn over it.
    np.testing.assert_array_equal(first[:120, :160], seen[0])
    np.testing.assert_array_equal(
        last[:120, :160], seen[(len(frames) - 1) * evaluation.RECORD_EVERY]
    )
    strip_first, strip_last = first[120:], last[120:]
    assert strip_first.max() > 200  # text and legend are drawn
    text_rows = slice(10, 24)  # the time/score line changes as the drive goes on
    assert np.mean(strip_first[text_rows] != strip_last[text_rows]) > 0.01
    legend_rows = slice(24, 40)  # the legend does not
    np.testing.assert_array_equal(strip_first[legend_rows], strip_last[legend_rows])
    # Overlay colours are Okabe-Ito ones: the orange steering bar is under the camera view.
    bar = last[120:128, :160].reshape(-1, 3)
    assert (bar == (230, 159, 0)).all(axis=1).sum() > 50


def test_short_drives_are_not_scored_and_long_ones_are():
    short = lanesim.drive(lambda b: np.zeros(1), seconds=1, record=False, log=None)
    assert short["scored"] is False
    refs = lanesim.drive_references(seconds=lanesim.MIN_SCORED_SECONDS)
    assert refs["ground_truth"]["scored"] is True


def test_long_drives_report_progress_without_flooding(monkeypatch):
    from chapter2.standins.lanesim import evaluation as evaluation

    notes = []
    monkeypatch.setattr(evaluation, "PROGRESS_EVERY", 0.0)
    lanesim.drive(lambda b: np.zeros(1), seconds=0.5, record=False, log=notes.append)
    # one a step, but the last
    assert notes[0].startswith("drive: 0.5 simulated s") and len(notes) == 10
    monkeypatch.setattr(evaluation, "PROGRESS_EVERY", 1e9)
    notes.clear()
    lanesim.drive(lambda b: np.zeros(1), seconds=0.5, record=False, log=notes.append)
    assert len(notes) == 1


def test_the_course_has_gaps_shadows_and_sharper_reversing_bends():
    track = lanesim.evaluation_track()
    kappas = [k for _, k in (p[3:5] for p in track.pieces)]
    assert max(abs(k) for k in kappas) > 1 / 1.5  # sharper than the old 1.8 m radius
    # a bend reversing straight into another
    assert any(a * b < 0 for a, b in zip(kappas, kappas[1:]))
    s = np.array([8.0, 11.0, 22.7, 3.0])
    visible = track.lines_visible(s)
    np.testing.assert_array_equal(visible, [[0, 1, 0, 1], [1, 0, 0, 1]])
    x, y, _ = track.point(14.5)  # a shadow's centre, and a sunny spot
    light = track.light(np.array([x, track.point(3.0)[0]]), np.array([y, track.point(3.0)[1]]))
    assert light[0] == pytest.approx(0.5) and light[1] == 1
    assert lanesim.Track([(1.0, 0.0)]).lines_visible(s) is None


def test_the_course_camera_is_off_centre_and_turned():
    from chapter2.standins.lanesim import evaluation as evaluation

    x, y, h = evaluation.camera_pose(0.0, 0.0, 0.0)  # car at the origin, heading east
    assert (
        y == pytest.approx(-lanesim.CAMERA_SHIFT)
        and x == 0
        and h == pytest.approx(-lanesim.CAMERA_YAW)
    )
    assert 0 < lanesim.CAMERA_SHIFT < 0.1 and 0 < lanesim.CAMERA_YAW < math.radians(5)


def test_a_loop_that_cannot_close_is_refused():
    from chapter2.standins.lanesim.track import closed_loop

    with pytest.raises(ValueError, match="closes only with"):
        closed_loop([(0.0, 0.0), (math.pi, 1.0), (0.0, 0.0), (math.pi / 2 * 1.0, 1.0)], free=(0, 2))


def test_a_nearly_straight_arc_still_moves_the_car():
    from chapter2.standins.lanesim.track import advance

    x, y, h = advance(1.0, 2.0, 0.5, 0.075, 1e-15)  # a steering angle of 1e-16
    assert math.hypot(x - 1.0, y - 2.0) == pytest.approx(0.075)
    x, y, h = advance(0.0, 0.0, 0.0, math.pi, 1.0)  # half a circle of radius 1
    assert (x, y, h) == pytest.approx((0.0, 2.0, math.pi), abs=1e-12)


def test_rendering_reports_progress_when_asked():
    notes = []
    X, _ = lanesim.make_dataset(40, seed=1, log=notes.append)
    assert notes[0] == "rendering 40 simulator frames (seed 1)" and len(notes) == 1
    scenes = lanesim.sample_scenes(48, seed=1)
    lanesim.render_scenes(scenes, seed=1, threads=1, log=notes.append, progress_every=0.0)
    assert [n.split()[1] for n in notes[1:]] == ["16/48", "32/48"]  # not the last chunk: it is done
    # quiet or not, the same frames
    np.testing.assert_array_equal(X, lanesim.make_dataset(40, seed=1)[0])
