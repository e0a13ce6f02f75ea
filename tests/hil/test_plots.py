"""The report's signal plots on edge cases: no samples, a constant value, a long series."""

import xml.etree.ElementTree as ET

from vehicle_mw.hil.plots import SignalPlot, svg

NS = "{http://www.w3.org/2000/svg}"


def test_no_samples_says_so_instead_of_an_empty_plot():
    assert "no samples stored during the run" in svg(SignalPlot("a", "M.S", [], target=1.0))


def test_a_constant_signal_still_gets_a_visible_range():
    root = ET.fromstring(svg(SignalPlot("a", "M.S", [(0.0, 5.0), (10.0, 5.0)])))
    ys = {float(p.split(",")[1]) for p in root.find(f"{NS}polyline").get("points").split()}
    assert len(ys) == 1 and 0 < ys.pop() < 180  # inside the drawing, not a division by zero


def test_points_map_into_the_frame_in_time_order():
    points = [(float(i), float(i % 7)) for i in range(1000)]
    root = ET.fromstring(svg(SignalPlot("a", "M.S", points, marks=[(500.0, "step")])))
    xs = [float(p.split(",")[0]) for p in root.find(f"{NS}polyline").get("points").split()]
    assert xs == sorted(xs) and 0 < xs[0] < xs[-1] < 720
    assert [t.text for t in root.iter(f"{NS}title")][-2:] == ["step step at +500.0 ms", "M.S: 0 to 6"]
