from __future__ import annotations

from core.launch.job_store import JobRecord, get_job, insert_job, list_jobs, new_local_id, update_job
from core.store import Store
from tests.conftest import CANARY_TOKEN, assert_no_canary


def test_insert_update_list_round_trip() -> None:
    store = Store()
    job_id = new_local_id()
    assert job_id.startswith("local-") and len(job_id) == len("local-20260101-000000-abcd")
    insert_job(JobRecord(id=job_id, backend="local", name="run-1", status="SCHEDULING", config={"epochs": 3},
                         script="print(1)", command="python train.py", extra={"expected_steps": 6}), store)
    update_job(job_id, store, status="RUNNING", pid=4242, exit_code=None)
    update_job(job_id, store, status="COMPLETED", exit_code=0, finished_at=1.0)
    job = get_job(job_id, store)
    assert job is not None and job.status == "COMPLETED" and job.pid == 4242 and job.is_terminal
    assert job.extra == {"expected_steps": 6, "exit_code": 0, "finished_at": 1.0}
    assert job.config == {"epochs": 3}
    assert [j.id for j in list_jobs(store)] == [job_id]
    assert list_jobs(store, backend="hf-jobs") == []


def test_tokens_never_reach_the_store() -> None:
    store = Store()
    insert_job(JobRecord(id="x", backend="local", name="n", status="RUNNING", config={"note": CANARY_TOKEN},
                         script=f"T = '{CANARY_TOKEN}'", command=f"run --token {CANARY_TOKEN}",
                         extra={"env": CANARY_TOKEN}), store)
    update_job("x", store, message=f"failed with {CANARY_TOKEN}")
    assert_no_canary(store.path.read_bytes())
    with store.connect() as conn:
        for row in conn.execute("SELECT * FROM jobs"):
            assert_no_canary(*(str(v) for v in tuple(row)))
