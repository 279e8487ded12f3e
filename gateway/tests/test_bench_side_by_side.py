"""scripts/bench_side_by_side.py's pure parts: wrk's plain output, and the medians
and ratios of the side-by-side report."""

import pytest

from conftest import load_script

bench = load_script("bench_side_by_side")

pytestmark = pytest.mark.fast

WRK = """Running 5s test @ http://127.0.0.1:8095/health
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.38ms    3.10ms  48.00ms   90.12%
    Req/Sec     3.40k   412.00     4.10k    70.00%
  Latency Distribution
     50%  812.00us
     75%    2.18ms
     90%    5.31ms
     99%    1.02s
  33512 requests in 5.01s, 5.12MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec:   6689.02
Transfer/sec:      1.02MB
"""


def test_wrk_output_is_read_in_milliseconds():
    assert bench.parse_wrk(WRK) == {
        "requests": 33512,
        "seconds": 5.01,
        "rps": 6689.0,
        "p50_ms": 0.812,
        "p99_ms": 1020.0,
        "non_2xx": 7,
        "socket_errors": 3,
    }


def test_a_one_letter_unit_is_padded_with_a_space():
    # wrk pads "1.02s " to the width of "1.02ms": the line still counts.
    assert bench.parse_wrk(WRK.replace("1.02s\n", "1.02s \n"))["p99_ms"] == 1020.0


def test_not_wrk_output_is_an_error():
    with pytest.raises(ValueError):
        bench.parse_wrk("unable to connect to 127.0.0.1:8095 Connection refused")


def test_medians_of_the_rounds_and_the_ratio_ours_over_go():
    def run(side, round_, rps, cpu):
        return {
            "scenario": "get_payment",
            "connections": 16,
            "side": side,
            "round": round_,
            "rps": rps,
            "p50_ms": 1.0,
            "p99_ms": 2.0,
            "cpu_ms": cpu,
            "non_2xx": 0,
        }

    runs = [
        run("go", 1, 4000, 0.2),
        run("go", 2, 3000, 0.3),
        run("go", 3, 5000, 0.25),
        run("ours", 1, 900, 2.0),
        run("ours", 2, 1100, 2.5),
        run("ours", 3, 1000, 1.5),
    ]
    [row] = bench.summarize(runs)
    assert (row["go"]["rps"], row["ours"]["rps"], row["go"]["runs"]) == (4000, 1000, 3)
    assert (row["ratio_rps"], row["ratio_cpu"]) == (0.25, 8.0)
    assert row["ratio_rps_paired"] == 0.225  # median of 900/4000, 1100/3000, 1000/5000
    assert "**0.25** (met)" in bench.markdown(
        {
            "commit": "abc",
            "date": "d",
            "machine": "2 cores",
            "duration_s": 5,
            "rounds": 3,
            "command": "c",
            "go": {"label": "seed", "url": "u", "get_path": bench.GO_GET_PATH},
            "ours": {"server": "s", "get_path": "/p"},
            "summary": [row],
            "runs": runs,
        }
    )
