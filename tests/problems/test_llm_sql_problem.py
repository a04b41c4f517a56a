"""The llm-sql problem: GGR reaches the reference seed's hit rate on the beer table, the
scores follow the named formulas, and outputs that are not a rearrangement are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from adrs.cli import main
from adrs.problems import get_problem
from adrs.problems.llm_sql import LlmSqlProblem

GOLDEN_GGR_HITS = 1606614  # the reference seed on the beer table (70.734%)
OUR_GGR_HITS = 1606589  # ours, deterministic (70.733%)


@pytest.fixture(scope="module")
def problem(shared_dir: Path) -> LlmSqlProblem:
    return get_problem("llm-sql", data=shared_dir / "data")


@pytest.fixture(scope="module")
def train(problem) -> dict:
    return {name: problem.evaluate_baseline(name) for name in problem.baselines}


def test_ggr_reaches_the_reference_seed_hit_rate_on_the_beer_table(train):
    ggr = train["ggr"]
    assert ggr.ok, ggr.error
    assert ggr.metrics["total_chars"] == 2271333
    assert ggr.metrics["hit_count"] == OUR_GGR_HITS
    assert ggr.metrics["hit_rate"] >= 0.707
    assert abs(ggr.metrics["hit_count"] - GOLDEN_GGR_HITS) < 100


def test_the_best_known_variant_beats_ggr(train):
    assert train["column_ggr"].metrics["hit_rate"] > train["ggr"].metrics["hit_rate"] + 0.005


def test_original_order_is_the_merged_table_as_given(train):
    original = train["original"]
    assert original.metrics["hit_count"] == 328152  # 332115 before the merge
    assert original.details["tables"][0]["original_hit_rate"] == original.metrics["hit_rate"]


def test_paper_score_is_the_papers_formula(train):
    for result in train.values():
        m = result.metrics
        assert result.score == 0.5 * m["hit_rate"] + 0.5 / (1 + m["runtime_s"])
        assert result.score == m["combined_score"]


def test_reference_scorer_divides_by_its_five_table_slots(shared_dir):
    problem = get_problem("llm-sql", data=shared_dir / "data", scorer="reference")
    result = problem.evaluate_baseline("original", "quick")
    m = result.metrics
    runtime_term = (12 - min(12, m["runtime_s"] / 5)) / 12
    assert result.score == 0.95 * (m["hit_rate"] / 5) + 0.05 * runtime_term
    assert "reference scorer" in result.feedback


def test_lru_cache_option_scores_the_bounded_hit_rate(shared_dir):
    problem = get_problem("llm-sql", data=shared_dir / "data", cache="lru", cache_capacity=5000)
    result = problem.evaluate_baseline("original", "quick")
    m = result.metrics
    assert m["lru_hit_rate"] < m["hit_rate"]
    assert result.score == 0.5 * m["lru_hit_rate"] + 0.5 / (1 + m["runtime_s"])


def test_splits(problem):
    train = problem.cases("train")[0]
    quick = problem.cases("quick")[0]
    assert train.table.n_rows == 28479 and quick.table.n_rows == 4000
    assert quick.rows == train.rows[:4000]
    test = problem.cases("test")
    assert [c.name for c in test] == ["reviews", "logs", "catalog"]
    assert [c.merged for c in test] == [
        ("product_title+parent_asin",), (),
        ("path+metadata", ("hasmetadata+isofficial+isuserpublisher+isdraft+hasannotations"
                          "+subsetall"))]
    assert all(c.table.n_rows == 10000 for c in test)


def test_test_split_scores_every_table(problem):
    result = problem.evaluate_baseline("column_ggr", "test")
    assert result.ok, result.error
    rates = [result.metrics[f"hit_rate[{name}]"] for name in ("reviews", "logs", "catalog")]
    assert result.metrics["hit_rate"] == pytest.approx(sum(rates) / 3, rel=1e-15)
    assert all(0.3 < rate < 0.9 for rate in rates)


def test_without_data_train_is_a_generated_beer_like_table(monkeypatch):
    monkeypatch.delenv("ADRS_DATA_DIR", raising=False)
    problem = get_problem("llm-sql")
    result = problem.evaluate_baseline("ggr", "quick")
    assert result.ok and result.details["data"].startswith("generated beer (seed 0")
    case = problem.cases("quick")[0]
    assert case.table.columns[-1] == "beer/name+beer/beerId"
    assert 0.5 < result.metrics["hit_rate"] < 0.8


PROGRAMS = {
    "identical rows": (
        "def reorder(table):\n    return [table.rows[0]] * len(table.rows)\n",
        ("table beer: output row 0 ['hopdog', '1157587200', '13/20', '6/10', '3/5', '4/5', "
        "'India Pale Ale (IPA)', 'John Harvards Simcoe IPA63836'] appears 4000 times in the "
        "output but once in the table")),
    "empty": (
        "def reorder(table):\n    return []\n",
        ("table beer: the output has 0 rows, the table has 4000: table row 0 ['hopdog', "
        "'1157587200', '13/20', '6/10', '3/5', '4/5', 'India Pale Ale (IPA)', 'John Harvards "
        "Simcoe IPA63836'] is missing from the output")),
    "altered cell": (
        ("def reorder(table):\n    rows = list(table.rows)\n"
        "    rows[3] = ('4/5',) + rows[3][1:]\n    return rows\n"),
        ("table beer: output row 3 ['4/5', '1107302400', '14/20', '7/10', '3/5', '2/5', "
        "'Belgian Ale', 'John Harvards Grand Cru71719'] is not a row of the table: no table "
        "row holds these cells (a row may reorder its own cells, nothing else)")),
    "raises": (
        "def reorder(table):\n    rows = table.rows\n    return rows[len(rows)]\n",
        "table beer: reorder() raised IndexError: list index out of range (line 3)"),
    "None": ("def reorder(table):\n    pass\n",
             "table beer: expected a list of rows, got a NoneType"),
    "syntax": ("def reorder(table)\n    return table.rows\n",
               "syntax error in candidate.py at line 1: expected ':'"),
    "no function": ("def order(table):\n    return table.rows\n",
                    "candidate.py defines no function 'reorder'"),
    "two arguments": ("def reorder(table, extra):\n    return table.rows\n",
                      "candidate.py: reorder() must take one argument (table)"),
}


@pytest.mark.parametrize("case", list(PROGRAMS))
def test_invalid_candidates_fail_with_the_reason_and_score_zero(problem, case):
    program, message = PROGRAMS[case]
    result = problem.evaluate(program, "quick")
    assert not result.ok
    assert result.score == 0.0
    assert result.error == message
    assert result.feedback == f"The candidate failed: {message}"


def test_a_candidate_may_reorder_cells_within_rows_and_return_a_table(problem):
    program = ("from dataclasses import replace\n"
               "def reorder(table):\n"
               "    rows = [tuple(reversed(row)) for row in table.rows]\n"
               "    rows.sort()\n"
               "    return replace(table, rows=rows)\n")
    result = problem.evaluate(program, "quick")
    assert result.ok, result.error
    texts = ["".join(reversed(row)) for row in problem.cases("quick")[0].rows]
    from adrs.simulators.llm_sql import prefix_hit_count

    assert result.metrics["hit_count"] == prefix_hit_count([(t,) for t in texts])


def test_candidates_can_call_the_hit_model(problem):
    program = ("def reorder(table):\n"
               "    flipped = [tuple(reversed(r)) for r in table.rows]\n"
               "    keep = table.hit_count(flipped) > table.hit_count(table.rows)\n"
               "    return flipped if keep else table.rows\n")
    result = problem.evaluate(program, "quick")
    original = problem.evaluate_baseline("original", "quick")
    assert result.ok and result.metrics["hit_rate"] > original.metrics["hit_rate"]


def test_options_are_checked(tmp_path):
    with pytest.raises(ValueError, match="unknown scorer 'fast'; expected one of paper, reference"):
        LlmSqlProblem(scorer="fast")
    with pytest.raises(ValueError, match="unknown cache 'fifo'; expected one of unbounded, lru"):
        LlmSqlProblem(cache="fifo")
    with pytest.raises(ValueError, match="cache_capacity must be a whole number"):
        LlmSqlProblem(cache_capacity=-1)
    with pytest.raises(ValueError, match="col_merge applies to your own table: give table too"):
        LlmSqlProblem(col_merge="a+b")
    with pytest.raises(FileNotFoundError, match="llm-sql: .*llm_sql_beer.csv not found"):
        LlmSqlProblem(data=tmp_path).cases("train")


def test_a_custom_table_with_merges_is_every_split(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("city,name,id,age\nParis,Ann,1,30\nParis,Bob,2,30\nLyon,Ann,1,41\n"
                    "Nice,Cy,3,30\n")
    problem = LlmSqlProblem(table=str(path), col_merge="name+id")
    for split in ("train", "quick", "test"):
        case = problem.cases(split)[0]
        assert case.name == "people"
        assert case.table.columns == ("city", "age", "name+id")
    result = problem.evaluate_baseline("column_ggr", "test")
    assert result.ok and result.details["data"] == str(path)
    with pytest.raises(ValueError, match="merge group .* differ in number of distinct values"):
        LlmSqlProblem(table=str(path), col_merge="city+age")


def test_cli_eval_and_baselines(shared_dir, capsys):
    data = str(shared_dir / "data")
    assert main(["eval", "llm-sql", "--baseline", "ggr", "--split", "quick", "--data", data,
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["details"]["scorer"] == "paper"
    assert main(["baselines", "llm-sql", "--split", "quick", "--data", data,
                 "--option", "scorer=reference"]) == 0
    out = capsys.readouterr().out
    assert "llm-sql baselines on quick" in out
    assert all(name in out for name in ("original", "ggr", "column_ggr"))


def test_a_gain_from_runtime_alone_is_called_speed_only():
    problem = LlmSqlProblem(timing_repeats=3)
    initial = {"hit_rate": 0.7073, "runtime_s": 0.4}
    assert problem.explain_gain({"hit_rate": 0.7073, "runtime_s": 0.1}, initial) == (
        "the gain is speed only (hit rate unchanged at 0.7073): runtime down from 0.4000 s "
        "to 0.1000 s (CPU time, median of 3 jailed runs)")
    assert problem.explain_gain({"hit_rate": 0.70, "runtime_s": 0.1}, initial) == (
        "the gain is speed only (hit rate DOWN from 0.7073 to 0.7000): runtime down from "
        "0.4000 s to 0.1000 s (CPU time, median of 3 jailed runs)")
    # a better order needs no words, nor does a slower program
    assert problem.explain_gain({"hit_rate": 0.72, "runtime_s": 0.1}, initial) is None
    assert problem.explain_gain({"hit_rate": 0.7073, "runtime_s": 0.5}, initial) is None
    assert problem.explain_gain({}, initial) is None
