"""Telling a person's open or click from a machine's, rule by rule (deliverability.md §4)."""

from pathlib import Path

import pytest

from app.services.events import verdicts
from app.services.events.verdicts import Click, Hit, MachineRanges, classify, judge_together

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
GMAIL_PROXY = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
YAHOO_PROXY = "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"


@pytest.fixture(scope="module")
def ranges(tmp_path_factory) -> MachineRanges:
    folder = tmp_path_factory.mktemp("ranges")
    (folder / "scanners.txt").write_text("# a gateway's egress\n198.51.100.0/24\n2001:db8:5::/48, US\nnot a range\n")
    return MachineRanges({"apple": [verdicts.BUILT_IN / "apple.txt"], "scanners": [folder / "scanners.txt"]})


@pytest.mark.parametrize(
    "hit, verdict, rule",
    [
        (Hit("open", "GET", CHROME, "203.0.113.9", 600), "human", "person"),
        (Hit("click", "GET", CHROME, "203.0.113.9", 600), "human", "person"),
        (Hit("click", "HEAD", CHROME, "203.0.113.9", 600), "scanner", "head"),
        (Hit("open", "GET", GMAIL_PROXY, "66.249.84.1", 600), "proxy", "gmail_proxy"),
        (Hit("open", "GET", YAHOO_PROXY, "98.136.1.1", 600), "proxy", "yahoo_proxy"),
        (Hit("open", "GET", "Mozilla/5.0", "17.58.1.2", 3), "apple_mpp", "apple_ip"),
        (Hit("open", "GET", "Mozilla/5.0", "203.0.113.9", 600), "apple_mpp", "bare_ua"),
        (Hit("click", "GET", CHROME, "17.58.1.2", 600), "human", "person"),  # Safari through Private Relay: a person
        (Hit("click", "GET", CHROME, "198.51.100.7", 600), "scanner", "scanner_ip"),
        (Hit("open", "GET", CHROME, "2001:db8:5::1", 600), "scanner", "scanner_ip"),
        (
            Hit("click", "GET", "Mozilla/5.0 (compatible; Barracuda Sentinel)", "203.0.113.9", 600),
            "scanner",
            "scanner_ua",
        ),
        (Hit("click", "GET", "curl/8.5.0", None, 600), "scanner", "scanner_ua"),
        (Hit("click", "GET", CHROME, "203.0.113.9", 1.2), "scanner", "fast_click"),
        (Hit("open", "GET", CHROME, "203.0.113.9", 0.5), "scanner", "fast_open"),
        (Hit("open", "GET", "", "203.0.113.9", 600), "unknown", "no_ua"),
        (Hit("open", "GET", CHROME, "not an address", None), "human", "person"),
    ],
)
def test_each_rule(ranges, hit, verdict, rule):
    got, signals = classify(hit, ranges)
    assert (got, signals["rule"]) == (verdict, rule)
    assert signals["method"] == hit.method
    assert ("seconds" in signals) == (hit.seconds is not None)


def test_the_honeypot_taints_the_recipients_clicks_within_thirty_seconds_either_side():
    clicks = [
        Click("before", 1, 11, 100.0, "human"),
        Click("trap", 1, 10, 120.0, "human", honeypot=True),
        Click("after", 1, 12, 149.0, "human"),
        Click("later", 1, 12, 200.0, "human"),  # 80 s after: a person may still click
        Click("other person", 2, 11, 121.0, "human"),
    ]
    assert judge_together(clicks) == {"before", "trap", "after"}
    assert {c.key: c.rule for c in clicks if c.rule} == {"before": "honeypot", "trap": "honeypot", "after": "honeypot"}


def test_three_links_within_two_seconds_are_a_burst_but_one_link_twice_is_not():
    walk = [Click(i, 1, 20 + i, 50.0 + 0.4 * i, "human") for i in range(3)]
    assert judge_together(walk) == {0, 1, 2}
    again = [Click("a", 1, 30, 50.0, "human"), Click("b", 1, 30, 50.5, "human"), Click("c", 1, 31, 51.0, "human")]
    assert judge_together(again) == set()


def test_lists_parse_csv_and_plain_lines_and_skip_junk():
    cidrs = verdicts.parse_cidrs("172.224.226.0/27,GB,GB-EN,London,\n# comment\n\nbogus\n2a02:26f7:b3c0:4000::/64,FR\n")
    assert [str(c) for c in cidrs] == ["172.224.226.0/27", "2a02:26f7:b3c0:4000::/64"]


def test_a_refreshed_copy_is_picked_up_without_a_restart(tmp_path: Path):
    first = verdicts.ranges_for(tmp_path)
    assert not first.apple("172.224.226.5") and first.apple("17.0.0.1")
    (tmp_path / "machine_ranges").mkdir()
    (tmp_path / "machine_ranges" / "apple.txt").write_text("172.224.226.0/27\n")
    assert verdicts.ranges_for(tmp_path).apple("172.224.226.5")
