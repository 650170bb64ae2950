"""The one redaction place: a secret is masked in every form an encoder gives it, in text, bytes,
data, files, the report, the event log, the load summary and this process's own output."""

from __future__ import annotations

import html
import json
import logging
import shlex
import sys
from pathlib import Path
from urllib.parse import quote, quote_plus
from xml.etree import ElementTree as ET

import pytest
import yaml
from markupsafe import escape

from gameday import redact
from gameday.redact import MASK, Redactor

NASTY = "p&<>\"'\\ ä€😀 %$ `x`"  # every special character, non-ASCII, a space, % and $
SECRETS = [NASTY, "tab\there&amp;", "s3cr3t-db-Pa55", "a'b\"c\\d", "line1\nline2", "100%+sure/ok?x=1#f"]


def encodings(value: str) -> dict[str, str]:
    """The ways our writers and their libraries encode a string."""
    elem = ET.Element("case", message=value)
    elem.text = value
    return {
        "raw": value,
        "json": json.dumps({"v": value}),
        "json-unicode": json.dumps({"v": value}, ensure_ascii=False),
        "json-in-json": json.dumps({"v": json.dumps({"v": value})}),
        "html": html.escape(value),
        "markupsafe": str(escape(value)),
        "json-in-html": str(escape(json.dumps(value))),
        "xml": ET.tostring(elem, encoding="unicode"),
        "url": quote(value, safe=""),
        "url-path": quote(value),
        "url-plus": quote_plus(value),
        "repr": repr(value),
        "repr-in-json": json.dumps(repr({"v": value})),
        "unicode-escape": value.encode("unicode_escape").decode(),
        "yaml": yaml.safe_dump({"v": value}),
        "yaml-unicode": yaml.safe_dump({"v": value}, allow_unicode=True),
        "yaml-double": yaml.safe_dump({"v": value}, default_style='"'),
        "shell": shlex.join(["cmd", value]),
        "json-upper-hex": json.dumps(value).replace("\\u20ac", "\\u20AC").replace("\\u00e4", "\\u00E4"),
    }


@pytest.mark.parametrize("secret", SECRETS)
def test_every_encoding_of_a_secret_is_masked(secret):
    red = Redactor([secret])
    for name, encoded in encodings(secret).items():
        text = f"before {encoded} after"
        out = red.text(text)
        assert MASK in out, (name, out)
        for form in (secret, *encodings(secret).values()):
            assert form not in out or form in text.replace(encoded, ""), (name, out)
        assert red.bytes(text.encode()) == out.encode(), name


def test_a_wrapped_or_folded_secret_is_masked():
    red = Redactor(["correct horse battery staple"])
    assert red.text("pw: correct horse\n   battery staple!") == f"pw: {MASK}!"


def test_data_is_masked_before_encoding_keys_and_assignments_too():
    red = Redactor([NASTY])
    data = {"k": [NASTY, ("x", f"say {NASTY}")], NASTY: 1, "n": 2.5, "p": Path(f"/tmp/{NASTY}"),
            "error": "db said: password=hunter22 and token: abcdef123456"}
    clean = red.data(data)
    text = json.dumps(clean, default=str)
    assert NASTY not in text and "hunter22" not in text and "abcdef123456" not in text
    assert clean["n"] == 2.5 and clean["k"][1][0] == "x" and MASK in clean


def test_short_values_are_not_masked_and_nothing_is_changed_without_secrets():
    assert Redactor(["abc", "", None]).text("abc def") == "abc def"
    assert Redactor().data({"a": "password-less"}) == {"a": "password-less"}


def test_files_and_trees_are_rewritten_in_place(tmp_path):
    red = Redactor([NASTY])
    (tmp_path / "journals").mkdir()
    (tmp_path / "journals" / "x.json").write_text(json.dumps({"output": NASTY}))
    (tmp_path / "journals" / "x.log").write_text(f"INFO echo {shlex.quote(NASTY)}\n")
    (tmp_path / "clean.txt").write_text("nothing here")
    (tmp_path / "blob.bin").write_bytes(b"\x00\xff" + NASTY.encode() + b"\x00")
    (tmp_path / "journals" / "x.log").chmod(0o600)
    rewritten = red.tree(tmp_path)
    assert sorted(p.name for p in rewritten) == ["blob.bin", "x.json", "x.log"]
    assert json.loads((tmp_path / "journals" / "x.json").read_text()) == {"output": MASK}
    assert (tmp_path / "journals" / "x.log").stat().st_mode & 0o777 == 0o600
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert NASTY.encode() not in path.read_bytes()


def test_writers_mask_what_they_write(tmp_path):
    red = Redactor([NASTY])
    red.write_json(tmp_path / "a.json", {"v": NASTY}, indent=2)
    event = red.append_json_line(tmp_path / "e.jsonl", {"v": NASTY})
    red.write_text(tmp_path / "t.txt", f"<p>{html.escape(NASTY)}</p>")
    assert event == {"v": MASK}
    for name in ("a.json", "e.jsonl", "t.txt"):
        assert MASK in (tmp_path / name).read_text()


def test_the_registry_feeds_every_redactor_and_the_event_log(tmp_path, monkeypatch):
    from gameday.runner.events import EventLog
    monkeypatch.setattr(redact, "_registry", set())
    redact.register(NASTY, None, "")
    assert redact.registered() == (NASTY,)
    EventLog(tmp_path / "events.jsonl").add("fault", touched=[NASTY], reason=f"'{NASTY}'")
    text = (tmp_path / "events.jsonl").read_text()
    assert NASTY not in text and json.dumps(NASTY)[1:-1] not in text and MASK in text


def test_children_get_no_secret_in_their_environment(monkeypatch):
    monkeypatch.setattr(redact, "_registry", set())
    redact.register(NASTY)
    env = redact.clean_environ({"PATH": "/bin", "SEARCH_PASSWORD": NASTY, "URL": f"x{NASTY}y"})
    assert env == {"PATH": "/bin"}


def test_this_process_output_and_logging_are_masked(monkeypatch, capsys):
    monkeypatch.setattr(redact, "_registry", set())
    handler = logging.StreamHandler(sys.stderr)
    logging.getLogger().addHandler(handler)
    try:
        with redact.masked_output():
            handler.stream = sys.stderr
            redact.register(NASTY)  # registered after the block began: still masked
            print(f"progress: {NASTY}")
            sys.stderr.write(json.dumps({"error": NASTY}) + "\n")
            logging.getLogger("gameday.test").warning("could not log in with %s", NASTY)
    finally:
        logging.getLogger().removeHandler(handler)
    out, err = capsys.readouterr()
    assert NASTY not in out + err and json.dumps(NASTY)[1:-1] not in err
    assert out.count(MASK) == 1 and err.count(MASK) == 2
    assert not isinstance(sys.stdout, redact._MaskedStream)


def test_the_report_is_masked_in_every_file(tmp_path):
    from tests.unit.test_report import build, scenario
    from gameday.report import render
    bad = scenario("a", rto_target=30, down_for=3, error=f"db said {NASTY!r} and {json.dumps(NASTY)}")
    bad.description = f"uses <{NASTY}>"
    paths = render.write(build(bad), tmp_path / "run", secrets=[NASTY])
    paths["index"] = render.write_index(tmp_path, secrets=[NASTY])
    for path in paths.values():
        text = path.read_text()
        for form in encodings(NASTY).values():
            assert form not in text, (path.name, form)
        assert MASK in text or path.name == "index.html"


try:  # property-based: any printable secret, any of our encodings
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - hypothesis is in the test extra
    given = None

if given is not None:
    @settings(max_examples=60, deadline=None)
    @given(st.text(min_size=redact.MIN_LENGTH, max_size=24).filter(lambda s: s.strip() == s and s.strip()))
    def test_any_secret_is_masked_in_any_encoding(secret):
        red = Redactor([secret])
        for name, encoded in encodings(secret).items():
            out = red.text(f"<{encoded}>")
            assert secret not in out or secret in MASK, (name, out)
