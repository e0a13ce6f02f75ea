"""Every fuzz target, run briefly under libFuzzer in its own subprocess, finds nothing.

``make fuzz`` runs >=10^6 inputs per target; here each gets a short bounded run from its seed
corpus (all targets at once, a few workers, hard timeouts) so a regression in any parser a peer
or a file reaches shows up in ``make test``. Known findings being fixed elsewhere (fuzz/known.py)
are tolerated and counted, exactly as ``make fuzz`` does.
"""

from __future__ import annotations

import pathlib
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

from fuzz.harness import CORPUS, TARGETS, judge, load_target  # noqa: E402
from fuzz.known import KnownFinding, match  # noqa: E402
from fuzz.runner import run_target  # noqa: E402
from vehicle_mw.someip import sd  # noqa: E402
from vehicle_mw.someip.sd import SdError  # noqa: E402

SHORT_RUNS = 1000
SHORT_SECONDS = 1


@pytest.fixture(scope="module")
def short_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz-work")  # a fresh work corpus: only the seeds are replayed
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {
            t: pool.submit(
                run_target, t, SHORT_RUNS, SHORT_SECONDS, timeout_s=10, hard_timeout=50, work=tmp / t
            )
            for t in TARGETS
        }
        return {t: f.result() for t, f in futures.items()}


@pytest.mark.parametrize("target", TARGETS)
def test_short_fuzz_run_finds_nothing(short_runs, target):
    res = short_runs[target]
    assert res.clean, f"{target}: findings {res.findings} (exit {res.returncode})\n{res.log[-4000:]}"
    assert res.inputs > 0, f"{target}: libFuzzer ran no input\n{res.log[-2000:]}"


@pytest.mark.parametrize("target", TARGETS)
def test_every_seed_is_handled(target):
    """Seeds are real inputs made by the project's encoders: each parses (or is refused) cleanly."""
    module = load_target(target)
    seeds = sorted((CORPUS / target).iterdir())
    assert seeds, f"no seed corpus for {target}: run python -m fuzz.make_corpus"
    outcomes = [judge(module, p.read_bytes()) for p in seeds]
    assert outcomes.count("ok") >= len(seeds) // 2, outcomes


def test_known_findings_match_only_their_own_location():
    """A known finding is tolerated only at its own raise site: the same type elsewhere is a finding."""
    known = (KnownFinding("someip_sd", "SdError", "vehicle_mw/someip/sd.py:decode", "example"),)
    with pytest.raises(SdError) as at_site:
        sd.decode(b"")
    assert match("someip_sd", at_site.value, known) is known[0]
    assert match("tokens", at_site.value, known) is None  # another target
    with pytest.raises(SdError) as elsewhere:
        raise SdError("raised here, not in sd.decode")
    assert match("someip_sd", elsewhere.value, known) is None


@pytest.mark.parametrize(("seed", "kind"), [(b"BUG!", "crashes"), (b"HANG", "hangs")])
def test_runner_reports_findings(tmp_path, seed, kind):
    """The machinery itself: an unexpected exception is a crash and a slow input a hang, each with
    its input written under fuzz/findings/ (the selftest target plants both)."""
    (tmp_path / "seed").write_bytes(seed)
    res = run_target("selftest", runs=50, max_time=20, timeout_s=1, hard_timeout=60, work=tmp_path)
    found = getattr(res, kind)
    assert len(found) == 1 and not res.clean, res.log[-3000:]
    assert pathlib.Path(found[0]).read_bytes() == seed
    pathlib.Path(found[0]).unlink()
