"""The held-out test split never enters a search's jail: the train jail holds only the
inputs of train (and its quick subset), and a candidate that searches its whole process
for held-out data finds none."""

from __future__ import annotations

import numpy as np
import pytest
from adrs.problems import get_problem
from adrs.problems.toy import ToyProblem

SEARCH = '''
import sys
import numpy as np

TEST_POINT = {point!r}
arrays = []
seen = set()


def collect(value, depth=0):
    # numpy arrays are not tracked by gc: reach them through what holds them
    if depth > 6 or id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, np.ndarray):
        arrays.append(value)
    elif isinstance(value, dict):
        for item in list(value.values()):
            collect(item, depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in list(value):
            collect(item, depth + 1)
    elif hasattr(value, "__dict__") and not isinstance(value, type):
        collect(vars(value), depth + 1)


frame = sys._getframe()
held = []  # kept alive, so that no id in seen is reused
while frame is not None:  # the harness's own frames hold what the jail was given
    held.append(dict(frame.f_locals))
    collect(held[-1])
    frame = frame.f_back
found = [a for a in arrays if a.dtype == np.float64
         and np.any(np.isclose(a, TEST_POINT, rtol=0, atol=1e-12))]
if found:
    raise RuntimeError("held-out data in the jail: " + repr(found)[:200])


def predict(x):
    return 0.0
'''


def test_a_candidate_finds_no_held_out_point_in_the_train_jail(jail, isolated) -> None:
    toy = ToyProblem()
    test_point = float(toy._splits["test"][3])
    assert not np.isclose(toy._splits["train"], test_point).any()
    result = toy.evaluate(SEARCH.format(point=test_point), "train", jail)
    assert result.ok, result.error
    # the same search in the test jail finds it: the scan works
    found = toy.evaluate(SEARCH.format(point=test_point), "test", jail)
    assert not found.ok and found.error.startswith("candidate.py raised at import: "
                                                   "RuntimeError: held-out data in the jail")


@pytest.mark.parametrize("name", ["toy", "spot", "spot-multi", "txn", "llm-sql"])
def test_the_train_jail_task_holds_train_and_quick_only(name: str) -> None:
    problem = get_problem(name)
    train, quick, test = (problem.jail_task(s) for s in ("train", "quick", "test"))
    assert train is quick and train.key != test.key
    names = set(train.arrays) | {str(item.get("key", "")) for item in
                                 train.shared.get("cases", [])}
    assert not any(n.startswith("test") for n in names), names
    if "splits" in train.shared:
        assert train.shared["splits"] == ["train", "quick"]
        assert test.shared["splits"] == ["test"]
    if "workloads" in train.shared:  # txn: the generated held-out workloads are elsewhere
        train_names = {w["name"] for w in train.shared["workloads"]}
        test_names = {w["name"] for w in test.shared["workloads"]}
        assert not train_names & test_names
