"""``PrometheusSource`` against a real, backfilled Prometheus: exact series across chunk joins, the
trace's rates back from ``rate()``, and every failure as one exact line."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.core import errors
from workbench.sources import bindings, fetch, prometheus
from workbench.sources.prometheus import Grid

from tests.prometheus import data
from tests.prometheus.conftest import PASSWORD, USER


class Clock:
    """Injected time for the retry loop: sleeping advances it, nothing else does."""

    def __init__(self):
        self.now, self.sleeps = 100.0, []

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self):
        return self.now


def source(url, clock=None, **options):
    clock = clock or Clock()
    return prometheus.PrometheusSource(prometheus.Options(url, **options), sleep=clock.sleep, clock=clock)


WIKI = Grid.spanning(data.WIKI_START, data.WIKI_END, 30)
FAULTS = Grid.spanning(data.FAULTS_START, data.FAULTS_START + (data.FAULTS_SAMPLES - 1) * data.FAULTS_SCRAPE,
                       data.FAULTS_SCRAPE)
KNOWN = 'scalelab_known_value{namespace="prod"}'


# -- the grid and its chunks (pure) ----------------------------------------------------------------
@pytest.mark.parametrize("count, max_points", [(1, 1), (10, 3), (10, 10), (10, 11), (8641, 7), (17281, 11000)])
def test_chunks_cover_every_point_once(count, max_points):
    grid = Grid(1_700_000_000, 15, count)
    chunks = grid.chunks(max_points)
    assert all(1 <= c.count <= max_points and c.step == 15 for c in chunks)
    points = np.concatenate([c.times() for c in chunks])
    np.testing.assert_array_equal(points, grid.times())  # consecutive, no duplicate, none missing
    assert [grid.index_of(c) for c in chunks] == list(range(0, count, max_points))


@pytest.mark.parametrize("start, end, step, message", [
    (1451865600000, 1451865600600, 60, "start 1451865600000 looks like epoch milliseconds; give seconds or ISO-8601"),
    (100, 200.5, 10, "end 1970-01-01T00:03:20.500Z must be a whole second"),
    (100, 200, 0.5, "step must be a whole number of seconds >= 1, got 0.5"),
    (200, 100, 10, "end 1970-01-01T00:01:40Z is not after start 1970-01-01T00:03:20Z"),
    (0, 3600, 15000, "step 15000s (milliseconds?) is longer than the range 1970-01-01T00:00:00Z .. 1970-01-01T01:00:00Z"),
], ids=["ms-start", "fractional", "step-fraction", "backwards", "ms-step"])
def test_bad_ranges(start, end, step, message):
    with pytest.raises(errors.UserError) as info:
        Grid.spanning(start, end, step)
    assert str(info.value) == message


def test_grid_end_is_included_when_on_the_grid():
    assert Grid.spanning(0, 60, 15).count == 5 and Grid.spanning(0, 70, 15).end == 60


def test_selector_helpers():
    q = bindings.defaults("shop", "api").render()
    assert prometheus.counter_selectors(q["cpu"]) == [
        'container_cpu_usage_seconds_total{namespace="shop",pod=~"api-.*",container!=""}']
    assert prometheus.counter_selectors(q["p95_ms"]) == [
        'http_request_duration_seconds_bucket{namespace="shop",service="api"}']
    assert prometheus.counter_selectors(q["replicas"]) == []
    assert prometheus.bare_counter('foo_total{a="}"}') == 'foo_total{a="}"}'
    assert prometheus.bare_counter("foo_bytes") is None and prometheus.bare_counter("sum(foo_total)") is None
    assert prometheus.public_url("https://u:p@host:9090/prom/?x=1#f") == "https://host:9090/prom"


# -- exact data ------------------------------------------------------------------------------------
@pytest.mark.parametrize("step, max_points", [(30, 500), (30, 11_000), (90, 7)], ids=["30s-500", "30s-1chunk", "90s-7"])
def test_known_gauge_comes_back_exactly_across_chunks(prom, datasets, step, max_points):
    grid = Grid.spanning(data.WIKI_START, data.WIKI_END, step)
    with source(prom.url) as src:
        chunked = src.range_one(KNOWN, grid, max_points=max_points)
        whole = src.range_one(KNOWN, grid)
    every = step // data.WIKI_SCRAPE
    np.testing.assert_array_equal(chunked.values, datasets.wiki.known_values[::every])  # exact, sample for sample
    np.testing.assert_array_equal(chunked.values, whole.values)
    assert (chunked.nan, chunked.absent, dict(chunked.labels)) == (0, 0, {"__name__": "scalelab_known_value",
                                                                         "namespace": "prod"})


def test_ranges_over_11000_points_are_chunked(prom, datasets):
    grid = Grid.spanning(data.WIKI_START, data.WIKI_END, 15)  # 17,281 points
    with source(prom.url) as src:
        with pytest.raises(errors.UserError) as info:
            src.range_one(KNOWN, grid, max_points=20_000)
        calls = []
        series = src.range_one(KNOWN, grid, on_chunk=lambda: calls.append(1))
    assert str(info.value) == (
        f"prometheus {prom.url}: {KNOWN} from 2016-01-04T00:00:00Z to 2016-01-07T00:00:00Z step 15s: rejected the "
        "query (HTTP 400 bad_data): exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the "
        "query resolution (?step=XX)")
    assert len(calls) == 2 and grid.count == 17_281
    # between two 30 s samples the 15 s point sees the previous one (lookback)
    np.testing.assert_array_equal(series.values, datasets.wiki.known_values[np.arange(grid.count) // 2])


def test_qps_from_rate_matches_the_trace(prom, datasets):
    """Tolerance: 1e-9 relative wherever the 2-minute window lies inside one trace hour (the
    counter is exactly linear there); windows straddling an hour blend the two hours' rates."""
    grid = Grid.spanning(data.WIKI_START, data.WIKI_END, 60)
    q = bindings.defaults("prod", "wiki").render()["qps"]
    with source(prom.url) as src:
        qps = src.range_one(q, grid, max_points=1000).values
    t = grid.times()
    hour = ((t - data.WIKI_START) // 3600).astype(int)
    rps = datasets.wiki.rps
    inside = (t - 120 >= data.WIKI_START + hour * 3600) & (hour < len(rps))  # samples t-2m .. t in one hour
    assert inside.sum() == 72 * 58 and np.isnan(qps[0]) and qps[1] == pytest.approx(rps[0] / 2, rel=1e-9)
    np.testing.assert_allclose(qps[inside], rps[hour[inside]], rtol=1e-9)
    blend = ~inside & (t - 120 > data.WIKI_START) & (hour < len(rps))
    lo = np.minimum(rps[hour[blend] - 1], rps[hour[blend]])
    hi = np.maximum(rps[hour[blend] - 1], rps[hour[blend]])
    assert ((qps[blend] >= lo - 1e-6) & (qps[blend] <= hi + 1e-6)).all()


def test_p95_from_the_histogram_is_in_the_models_bucket(prom, datasets):
    grid = Grid.spanning(data.WIKI_START + 3600 - 60, data.WIKI_END - 60, 3600)  # minute 59 of each hour
    q = bindings.defaults("prod", "wiki").render()["p95_ms"]
    with source(prom.url) as src:
        p95 = src.range_one(q, grid).values
    truth = datasets.wiki.records["p95_ms"].to_numpy()[: grid.count]
    edges = 1000 * np.array((0.0, *data.om.DEFAULT_BUCKETS))
    assert (np.searchsorted(edges, p95) == np.searchsorted(edges, truth)).all()
    assert 50 < np.nanmin(p95) and np.nanmax(p95) < 500  # the ideal autoscaler meets the SLO


def test_simulator_records_come_back(prom, datasets):
    """Every default binding on a real simulator run: qps is the mean demand of the 8 ticks before
    each point (Prometheus 2 selects [t-2m, t] inclusive: 9 samples 15 s apart); replicas, CPU and
    memory equal the records wherever the pod set has not changed during the window."""
    rec = datasets.sim.records
    start = int(rec["time"].iloc[0].timestamp())
    grid = Grid.spanning(start, start + (len(rec) - 1) * 15, 15)
    b = bindings.defaults("sim", "shop")
    with source(prom.url) as src:
        got = fetch.fetch(src, b.render(), grid, max_points=400)
    f = got.frame
    demand = rec["demand_rps"].to_numpy()
    k = np.arange(12, len(rec))
    mean8 = np.array([demand[i - 8:i].mean() for i in k])
    np.testing.assert_allclose(f["qps"].to_numpy()[k], mean8, rtol=1e-9)
    ready = rec["ready_replicas"].to_numpy()
    steady = np.array([i >= 9 and (ready[i - 9:i + 1] == ready[i]).all() for i in range(len(rec))])
    assert steady.sum() > 1000
    np.testing.assert_array_equal(f["replicas"].to_numpy()[steady], ready[steady])
    cpu8 = np.array([rec["cpu"].to_numpy()[i - 8:i].mean() if i >= 8 else np.nan for i in range(len(rec))])
    np.testing.assert_allclose(f["cpu"].to_numpy()[steady], cpu8[steady], rtol=1e-9)
    np.testing.assert_allclose(f["cpu_cores"].to_numpy()[steady], cpu8[steady], rtol=1e-9)  # request = 1 core
    np.testing.assert_allclose(f["memory"].to_numpy()[steady], rec["memory"].to_numpy()[steady], rtol=1e-12)
    np.testing.assert_allclose(f["memory_bytes"].to_numpy()[steady], rec["memory"].to_numpy()[steady] * 2**30,
                               rtol=1e-12)
    assert list(f.columns) == ["timestamp", *b.render()]


# -- instant queries (the controller's) ------------------------------------------------------------
def test_instant(prom, datasets):
    with source(prom.url) as src:
        assert src.instant(KNOWN, data.WIKI_START + 60) == datasets.wiki.known_values[2]
        assert src.instant("vector(1) * 3") == 3.0 and src.instant("2 + 2") == 4.0
        assert src.instant('absent_metric{namespace="x"}', data.WIKI_START) is None
        assert src.instant('scalelab_test_value{namespace="faults",case="nan"}', data.FAULTS_START + 150) is None
        with pytest.raises(errors.UserError) as info:
            src.instant('scalelab_test_value{namespace="faults",case=~"a|b"}', data.FAULTS_START, name="cpu")
    assert str(info.value) == (
        f'prometheus {prom.url}: cpu: scalelab_test_value{{namespace="faults",case=~"a|b"}} at 2024-02-01T00:00:00Z: '
        'returned 2 series where one was expected: scalelab_test_value{case="a",namespace="faults"}, '
        'scalelab_test_value{case="b",namespace="faults"}; aggregate them, e.g. sum(...) or max(...)')


# -- failures: one exact line each -----------------------------------------------------------------
def _fail(src, query, grid=FAULTS, name=None, kind=errors.UserError):
    with pytest.raises(kind) as info:
        src.range_one(query, grid, name=name)
    assert type(info.value) is kind
    return str(info.value)


RANGE = "from 2024-02-01T00:00:00Z to 2024-02-01T01:59:45Z step 15s"


def test_bad_promql(prom):
    with source(prom.url) as src:
        assert _fail(src, "sum(rate(http_requests_total[5m]", name="qps") == (
            f"prometheus {prom.url}: qps: sum(rate(http_requests_total[5m] {RANGE}: rejected the query "
            "(HTTP 400 bad_data): 1:33: parse error: unclosed left parenthesis")


def test_empty_result(prom):
    q = bindings.defaults("faults", "restarts").render()["replicas"]
    with source(prom.url) as src:
        assert _fail(src, q, name="replicas") == (
            f'prometheus {prom.url}: replicas: {q} {RANGE}: returned no data (no series matched; check the labels '
            "in the query and that the range holds data)")


def test_several_series(prom):
    with source(prom.url) as src:
        assert _fail(src, 'scalelab_test_value{namespace="faults"}') == (
            f'prometheus {prom.url}: scalelab_test_value{{namespace="faults"}} {RANGE}: returned 4 series where one '
            'was expected: scalelab_test_value{case="a",namespace="faults"}, scalelab_test_value{case="b",'
            'namespace="faults"}, scalelab_test_value{case="hole",namespace="faults"}, scalelab_test_value{'
            'case="nan",namespace="faults"}; aggregate them, e.g. sum(...) or max(...)')


def test_nan_and_stale_samples_are_counted_and_kept_missing(prom):
    with source(prom.url) as src:
        got = fetch.fetch(src, {"nan": 'scalelab_test_value{namespace="faults",case="nan"}',
                                "hole": 'scalelab_test_value{namespace="faults",case="hole"}'}, FAULTS, max_points=100)
    assert list(np.flatnonzero(got.frame["nan"].isna())) == list(data.NAN_AT)
    # lookback 1m: the 4 points after the last sample before the hole still see it
    assert list(np.flatnonzero(got.frame["hole"].isna())) == list(range(data.HOLE.start + 4, data.HOLE.stop))
    assert got.warnings == (
        "nan: 3 of 480 samples missing (3 NaN, 0 absent or stale), first at 2024-02-01T00:02:30Z; kept as missing (NaN)",
        "hole: 36 of 480 samples missing (0 NaN, 36 absent or stale), first at 2024-02-01T00:26:00Z; kept as missing "
        "(NaN)",
    )


def test_counter_reset_raw_counter_and_unit_warnings(prom):
    qps = bindings.defaults("faults", "restarts").render()["qps"]
    with source(prom.url) as src:
        got = fetch.fetch(src, {"qps": qps, "raw": 'http_requests_total{namespace="faults"}',
                                "p95_ms": 'max(scalelab_test_latency_seconds{namespace="faults"})'}, FAULTS)
    assert got.warnings == (
        "qps: 1 of 480 samples missing (0 NaN, 1 absent or stale), first at 2024-02-01T00:00:00Z; kept as missing (NaN)",
        'raw: the raw counter http_requests_total{namespace="faults"} drops 1 time (counter reset), first at '
        "2024-02-01T01:00:00Z; use rate() or increase() on counters",
        "p95_ms: values look like seconds, not milliseconds (median 0.25); multiply the query by 1000",
        'qps: 1 counter reset in http_requests_total{namespace="faults",service="restarts"} from '
        '2024-02-01T00:00:00Z to 2024-02-01T01:59:45Z ({code="200",namespace="faults",service="restarts"}), the '
        "first between 2024-02-01T00:59:30Z and 2024-02-01T01:00:00Z; rate() compensates, but a restart may "
        "distort the values around it",
    )
    # rate() compensates the reset; only the requests between the last scrape before the restart and
    # the first after it (counted from 0 again) are lost: the 8 windows holding that pair show 7/8
    qps = got.frame["qps"].to_numpy()
    expected = np.full(480, 10.0)
    expected[data.RESET_AT:data.RESET_AT + 8] = 8.75
    np.testing.assert_allclose(qps[8:], expected[8:], rtol=1e-9)
    np.testing.assert_allclose(qps[1:8], 10.0 * np.arange(1, 8) / 8, rtol=1e-9)  # a new series: rate() ramps up


def test_unreachable_server_retries_with_backoff(dead_port):
    clock = Clock()
    url = f"http://127.0.0.1:{dead_port}"
    with source(url, clock, retries=2, backoff_seconds=0.5) as src:
        msg = _fail(src, "up", kind=errors.UpstreamError)
    assert msg == f"prometheus {url}: up {RANGE}: cannot connect (Connection refused); after 3 attempts in 1.5s"
    assert clock.sleeps == [0.5, 1.0]


def test_retry_time_is_bounded(dead_port):
    clock = Clock()
    with source(f"http://127.0.0.1:{dead_port}", clock, retries=10, backoff_seconds=1, max_retry_seconds=5) as src:
        assert _fail(src, "up", kind=errors.UpstreamError).endswith("after 3 attempts in 3.0s")
    assert clock.sleeps == [1, 2]  # the next wait (4 s) would pass the 5 s budget


def test_hung_server_times_out(silent_port):
    clock = Clock()
    url = f"http://127.0.0.1:{silent_port}"
    with source(url, clock, timeout=0.2, retries=1) as src:
        msg = _fail(src, "up", kind=errors.UpstreamError)
    assert msg == f"prometheus {url}: up {RANGE}: no answer within 0.2s (timeout); after 2 attempts in 0.5s"


def test_server_errors_are_retried(prom):
    """Real server errors: the server's evaluation limit (1 ms) on a query that needs more."""
    clock = Clock()
    heavy = "sum(count_over_time(http_request_duration_seconds_bucket[1d]))"
    grid = Grid.spanning(data.WIKI_START + 86400, data.WIKI_END, 60)
    with source(prom.url, clock, retries=2, query_timeout=0.001) as src:
        msg = _fail(src, heavy, grid=grid, kind=errors.UpstreamError)
    # where the 1 ms deadline strikes decides Prometheus' answer: during evaluation (503) or while it
    # still selects series (422); both are its timeout, and both are retried
    assert msg in [f"prometheus {prom.url}: {heavy} from 2016-01-05T00:00:00Z to 2016-01-07T00:00:00Z step 60s: "
                   f"{answer}; after 3 attempts in 1.5s" for answer in (
                       "HTTP 503 Service Unavailable: query timed out in expression evaluation",
                       "HTTP 422 Unprocessable Entity: expanding series: context deadline exceeded")]
    assert clock.sleeps == [0.5, 1.0]


def test_wrong_base_url(prom):
    with source(prom.url + "/api/v1") as src:
        assert _fail(src, "up", kind=errors.UpstreamError) == (
            f"prometheus {prom.url}/api/v1: up {RANGE}: HTTP 404 Not Found (is this the Prometheus base URL, "
            "without /api/v1?): 404 page not found")


@pytest.mark.parametrize("options, message", [
    (dict(url="localhost:9090"), "prometheus URL 'localhost:9090': expected http://HOST:PORT or https://HOST:PORT"),
    (dict(url="http://h:99999"), "prometheus URL 'http://h': invalid port"),
    (dict(url="http://h", token="t", username="u"), "prometheus: give a bearer token or a user and password, not both"),
    (dict(url="http://h", ca_file="/nonexistent.pem"), "prometheus: CA file /nonexistent.pem: no such file"),
    (dict(url="http://h", timeout=0), "prometheus: timeout must be > 0 seconds, got 0"),
], ids=["no-scheme", "port", "token-and-user", "ca-file", "timeout"])
def test_bad_options(options, message):
    with pytest.raises(errors.UserError) as info:
        prometheus.Options(**options)
    assert str(info.value) == message


# -- authentication and TLS ------------------------------------------------------------------------
def test_basic_auth(secure_prom):
    url, ca = secure_prom.url, secure_prom.ca
    with source(url, username=USER, password=PASSWORD, ca_file=ca) as src:
        assert src.instant("vector(1)") == 1.0
    for options in (dict(), dict(username=USER, password="wrong"), dict(token="abc")):
        with source(url, ca_file=ca, **options) as src:
            with pytest.raises(errors.UpstreamError) as info:
                src.instant("vector(1)", 0, name="qps")
        assert str(info.value) == (f"prometheus {url}: qps: vector(1) at 1970-01-01T00:00:00Z: authentication "
                                   "failed: HTTP 401 Unauthorized (check --token/--token-file or --user/--password-file)")


def test_tls_verification(secure_prom):
    if secure_prom.ca is None:
        pytest.skip("openssl not installed: the secure server runs without TLS")
    url = secure_prom.url
    with source(url, username=USER, password=PASSWORD) as src:
        with pytest.raises(errors.UpstreamError) as info:
            src.instant("vector(1)", 0)
    assert str(info.value) == (f"prometheus {url}: vector(1) at 1970-01-01T00:00:00Z: TLS certificate verification "
                               "failed (self-signed certificate); give --ca-file FILE or --insecure")
    with source(url, username=USER, password=PASSWORD, insecure=True) as src:
        assert src.instant("vector(2)") == 2.0
    plain = url.replace("https://", "http://")
    with source(plain, username=USER, password=PASSWORD) as src:
        with pytest.raises(errors.UpstreamError) as info:
            src.instant("vector(1)", 0)
    assert str(info.value) == (f"prometheus {plain}: vector(1) at 1970-01-01T00:00:00Z: HTTP 400 Bad Request: "
                               "Client sent an HTTP request to an HTTPS server.")
