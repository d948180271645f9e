"""The slash-command parser: every command and alias, and a clear message for every mistake."""

from __future__ import annotations

import re

import pytest

from dialtone.client.commands import (
    COMMANDS,
    ChannelCreate,
    ChannelDelete,
    ChannelList,
    ChannelRename,
    Command,
    CommandError,
    CommandSpec,
    DevicesApprove,
    DevicesList,
    DevicesRevoke,
    Help,
    Invite,
    Join,
    MembersAdd,
    MembersList,
    MembersRemove,
    Nick,
    Quit,
    Verify,
    VoiceDeafen,
    VoiceJoin,
    VoiceLeave,
    VoiceMute,
    is_command,
    parse,
    parse_duration,
    spec_for,
    unescape,
)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("/help", Help()),
        ("/help join", Help(topic="join")),
        ("/help /j", Help(topic="join")),
        ("/join general", Join(channel="general")),
        ("/j #general", Join(channel="general")),
        ("/join  team chat ", Join(channel="team chat")),
        ("/JOIN general", Join(channel="general")),
        ("/list", ChannelList()),
        ("/ls", ChannelList()),
        ("/channel list", ChannelList()),
        ("/channel create ops", ChannelCreate(name="ops")),
        ("/channel create ops bob carol", ChannelCreate(name="ops", members=("bob", "carol"))),
        ('/channel create "war room" bob', ChannelCreate(name="war room", members=("bob",))),
        ("/channel rename the new name", ChannelRename(name="the new name")),
        ('/channel rename "quoted name"', ChannelRename(name="quoted name")),
        ("/channel delete ops", ChannelDelete(channel="ops")),
        ("/members", MembersList()),
        ("/members list", MembersList()),
        ("/members add bob", MembersAdd(user="bob")),
        ("/members add @bob admin", MembersAdd(user="bob", role="admin")),
        ("/members remove bob", MembersRemove(user="bob")),
        ("/members kick bob", MembersRemove(user="bob")),
        ("/invite", Invite()),
        ("/invite 2d", Invite(ttl_seconds=2 * 86400)),
        ("/invite 12h for Bob", Invite(ttl_seconds=12 * 3600, note="for Bob")),
        ("/invite for Bob", Invite(note="for Bob")),
        ("/verify bob", Verify(user="bob")),
        ("/verify @bob", Verify(user="bob")),
        ("/devices", DevicesList()),
        ("/devices list", DevicesList()),
        ("/devices approve 3f2a", DevicesApprove(device="3f2a")),
        ("/devices revoke 3f2a", DevicesRevoke(device="3f2a")),
        ("/voice join", VoiceJoin()),
        ("/voice join #ops", VoiceJoin(channel="ops")),
        ("/voice leave", VoiceLeave()),
        ("/voice mute", VoiceMute(muted=True)),
        ("/voice unmute", VoiceMute(muted=False)),
        ("/voice deafen", VoiceDeafen(deafened=True)),
        ("/voice undeafen", VoiceDeafen(deafened=False)),
        ("/nick Alice Liddell", Nick(name="Alice Liddell")),
        ("/quit", Quit()),
        ("/q", Quit()),
        ("  /quit  ", Quit()),
    ],
)
def test_each_command_and_alias_parses_to_its_typed_form(line: str, expected: Command) -> None:
    assert parse(line) == expected


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("/frobnicate", "unknown command /frobnicate"),
        ("/jion general", "did you mean /join?"),
        ("/", "a command name must follow"),
        ("/join", "which channel?"),
        ("/help nothing", "no command /nothing"),
        ("/help a b", "at most one"),
        ("/list extra", "takes no arguments"),
        ("/channel", "what should /channel do?"),
        ("/channel explode", "unknown action 'explode'"),
        ("/channel create", "needs a name"),
        ("/channel rename", "new name is missing"),
        ("/channel delete", "name the channel"),
        ("/members add", "takes a user"),
        ("/members add bob owner", "member or admin"),
        ("/members remove", "takes one user"),
        ("/members promote bob", "unknown action"),
        ("/invite 0d", "positive"),
        ("/invite 90d", "at most 30 days"),
        ("/verify", "takes one user"),
        ("/verify bob carol", "takes one user"),
        ("/devices approve", "takes one device"),
        ("/devices wipe x", "unknown action"),
        ("/voice", "what should /voice do?"),
        ("/voice mute now", "takes no arguments"),
        ("/voice dance", "unknown action"),
        ("/nick", "display name is missing"),
        ("/quit now", "takes no arguments"),
        ('/channel create "unclosed', "cannot read the arguments"),
    ],
)
def test_a_mistake_gets_a_clear_message(line: str, message: str) -> None:
    with pytest.raises(CommandError, match=re.escape(message)):
        parse(line)


def test_a_bad_argument_message_shows_the_usage_of_the_command() -> None:
    with pytest.raises(CommandError) as caught:
        parse("/members add")
    text = str(caught.value)
    assert "usage:" in text
    assert "/members add <user> [member|admin]" in text


def test_only_slash_lines_are_commands_and_a_double_slash_escapes() -> None:
    assert is_command("/join x")
    assert is_command("  /quit")
    assert not is_command("hello /join")
    assert not is_command("//shrug")
    assert unescape("//shrug") == "/shrug"
    assert unescape("plain") == "plain"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("45s", 45), ("30m", 1800), ("12h", 43200), ("2d", 172800), ("1w", 604800)],
)
def test_durations_read_in_common_units(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


def test_a_non_duration_is_refused() -> None:
    with pytest.raises(CommandError, match="not a duration"):
        parse_duration("soon")


def test_every_command_in_the_table_has_a_parser_and_usage() -> None:
    for spec in COMMANDS:
        assert spec.usage
        assert spec_for(spec.name) is spec
        for alias in spec.aliases:
            assert spec_for(alias) is spec


@pytest.mark.parametrize("spec", COMMANDS, ids=lambda spec: spec.name)
def test_every_documented_form_parses(spec: CommandSpec) -> None:
    for form in spec.usage:
        for variant in form.split(" | "):
            line = re.sub(r"<[^>]+>", "x", variant)
            line = re.sub(r"\[[^\]]+\]", "", line).strip()
            if not line.startswith("/"):
                line = f"/{spec.name} {line}"
            assert parse(line) is not None
