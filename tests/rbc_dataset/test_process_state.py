"""A library inside someone else's process: no global setting changed for good, and worker pools that work
from a plain script, standard input or ``python -c`` (or run in one process and say why)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import PIL.Image
import pytest

from rbc_dataset.parallel import opencv_single_thread, worker_count
from rbc_dataset.synth.config import SynthConfig
from rbc_dataset.synth.generate import synthesize
from tests.helpers import PROJECT_ROOT, tree_hashes


@pytest.fixture
def opencv_threads():
    """OpenCV set to 3 threads (not 1, whatever the machine), the setting before the test restored after it."""
    before = cv2.getNumThreads()
    cv2.setNumThreads(3)
    yield 3
    cv2.setNumThreads(before)


def test_in_process_ingest_validate_and_audit_leave_pil_and_opencv_as_they_were(
    synthetic_root, tmp_path, opencv_threads
):
    pixels = PIL.Image.MAX_IMAGE_PIXELS
    import rbc_dataset.auditing.run
    import rbc_dataset.ingestion
    import rbc_dataset.validate.run
    from rbc_dataset.auditing.config import AuditConfig
    from rbc_dataset.validate.config import ValidateConfig

    manifest = tmp_path / "manifest.parquet"
    rbc_dataset.ingestion.ingest(synthetic_root, out=manifest, workers=1, show_progress=False)
    rbc_dataset.validate.run.validate_masks(
        manifest, out_dir=tmp_path / "reports", config=ValidateConfig(workers=1), show_progress=False
    )
    rbc_dataset.auditing.run.audit(
        manifest, out_dir=tmp_path / "audit", config=AuditConfig(workers=1), show_progress=False
    )
    assert PIL.Image.MAX_IMAGE_PIXELS == pixels == 89_478_485  # PIL's own default, not ours
    assert cv2.getNumThreads() == opencv_threads


def test_opencv_single_thread_restores_the_setting_even_when_the_task_fails(opencv_threads):
    @opencv_single_thread()
    def task() -> int:
        raise ValueError(cv2.getNumThreads())

    with pytest.raises(ValueError) as caught:
        task()
    assert caught.value.args == (1,) and cv2.getNumThreads() == opencv_threads


def _run_python(args: list[str], tmp_path: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )


SYNTH_SCRIPT = """
from pathlib import Path
from rbc_dataset.synth.config import SynthConfig
from rbc_dataset.synth.generate import synthesize

synthesize(SynthConfig(n_images=1, with_tiles=False, workers=2), Path("{out}"), show_progress=False)
print("finished")
"""


def test_a_script_without_main_guard_finishes_in_one_process_and_says_why(tmp_path):
    script = tmp_path / "my script.py"
    script.write_text(SYNTH_SCRIPT.format(out=tmp_path / "out"))
    done = _run_python([str(script)], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "finished" and "Traceback" not in done.stderr
    assert "my script.py:6: RuntimeWarning: rbc_dataset runs this work in 1 process instead of 2" in done.stderr
    assert 'outside an `if __name__ == "__main__":` block' in done.stderr
    synthesize(SynthConfig(n_images=1, with_tiles=False, workers=1), tmp_path / "reference", show_progress=False)
    assert tree_hashes(tmp_path / "out") == tree_hashes(tmp_path / "reference")  # the same work, done right


POOL_PROBE = """
import operator
from rbc_dataset.parallel import bounded_map, worker_count

def main():
    print(worker_count(2), list(bounded_map(operator.neg, range(5), workers=2)))
"""


def test_programs_from_stdin_fall_back_and_python_c_and_guarded_scripts_use_workers(tmp_path):
    guarded = tmp_path / "guarded.py"
    guarded.write_text(POOL_PROBE + '\nif __name__ == "__main__":\n    main()\n')
    unguarded = POOL_PROBE + "\nmain()\n"
    results = {
        "guarded script": _run_python([str(guarded)], tmp_path),
        "python -c": _run_python(["-c", unguarded], tmp_path),
        "stdin": _run_python(["-"], tmp_path, stdin=unguarded),
    }
    for case, done in results.items():
        assert done.returncode == 0 and "Traceback" not in done.stderr, (case, done.stderr)
        workers = 1 if case == "stdin" else 2
        assert done.stdout.strip() == f"{workers} [0, -1, -2, -3, -4]", case
    assert results["guarded script"].stderr == results["python -c"].stderr == ""
    assert "the main program (<stdin>) is not a file that worker processes can load" in results["stdin"].stderr


def test_a_guard_elsewhere_in_the_script_does_not_hide_an_unguarded_call(tmp_path):
    script = tmp_path / "mixed.py"
    body = textwrap.dedent(
        """
        from rbc_dataset.parallel import worker_count
        print(worker_count(2))
        if __name__ == "__main__":
            print(worker_count(2))
        """
    )
    script.write_text(body)
    done = _run_python([str(script)], tmp_path)
    assert done.returncode == 0 and done.stdout.split() == ["1", "2"], done.stderr
    assert done.stderr.count("RuntimeWarning") == 1


def test_pools_started_under_pytest_are_not_refused():
    assert worker_count(2) == 2
