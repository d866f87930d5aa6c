"""Drives chatroom-shim with the official Python MCP SDK's client, so that the shim is tested
against an MCP implementation other than rmcp.

Usage: sdk_client.py SHIM_BINARY REPO_DIR
Exits 0 and prints "python sdk: ok" when every check passed; any failed check raises.
"""

import asyncio
import json
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def payload(result):
    assert len(result.content) == 1, result
    text = result.content[0].text
    value = json.loads(text)
    assert text == json.dumps(value, separators=(",", ":"), ensure_ascii=False), text
    if isinstance(value, dict):
        assert result.structured_content == value, (result.structured_content, value)
    elif isinstance(value, list):
        assert result.structured_content == {"result": value}, result.structured_content
    return value


async def ok(session, tool, **args):
    result = await session.call_tool(tool, args)
    assert not result.is_error, (tool, result.content)
    return payload(result)


async def refused(session, tool, **args):
    result = await session.call_tool(tool, args)
    assert result.is_error, (tool, result.content)
    return result.content[0].text


async def main(shim, repo):
    env = dict(os.environ)
    env.pop("CHATROOM_ROOT", None)
    params = StdioServerParameters(command=shim, args=[], env=env, cwd=repo)
    async with stdio_client(params) as (read, write), stdio_client(params) as (read2, write2):
        async with ClientSession(read, write) as alice, ClientSession(read2, write2) as bob:
            init = await alice.initialize()
            await bob.initialize()
            assert init.server_info.name == "chatroom", init.server_info
            assert init.instructions and "join" in init.instructions and "get_handoff" in init.instructions

            tools = {tool.name: tool for tool in (await alice.list_tools()).tools}
            expected = {
                "join", "leave", "send_message", "read_messages", "list_participants", "get_status",
                "get_cursor", "set_cursor", "read_unread", "write_summary", "read_latest_summary",
                "get_handoff", "open_topic", "close_topic", "list_topics", "search_messages",
                "wait_for_messages", "read_receipts", "claim", "release", "list_claims",
            }
            assert set(tools) == expected, sorted(tools)
            assert tools["join"].input_schema["properties"]["role"]["default"] == "general"
            assert tools["read_unread"].input_schema["properties"]["mark_read"]["default"] is True

            joined = await ok(alice, "join", name="alice", role="lead")
            assert [p["name"] for p in joined] == ["alice"]
            assert set(joined[0]) == {"name", "role", "joined_at", "last_seen"}
            await ok(bob, "join", name="bob")
            clash = await refused(bob, "join", name="alice")
            assert clash == "name 'alice' is already active in another session", clash

            first = await ok(alice, "send_message", name="alice", content="hello from python")
            dm = await ok(bob, "send_message", name="bob", content="psst", to="alice")
            assert dm["id"] == first["id"] + 1

            unread = await ok(alice, "read_unread", name="alice")
            # Visible to alice: every broadcast (her own included) and the direct message to her.
            assert [m["content"] for m in unread["messages"]] == ["hello from python", "psst"], unread
            assert unread["last_read_id"] == dm["id"]
            assert set(unread["messages"][0]) == {"id", "ts", "from", "to", "content"}
            unread = await ok(bob, "read_unread", name="bob")
            assert [m["content"] for m in unread["messages"]] == ["hello from python"], unread

            # A wait with a message for it returns at once; with none, it times out.
            await ok(bob, "send_message", name="bob", content="are you there?", to="alice")
            waited = await ok(alice, "wait_for_messages", name="alice", timeout_s=5)
            assert [m["content"] for m in waited["messages"]] == ["are you there?"], waited
            assert waited["timed_out"] is False
            waited = await ok(alice, "wait_for_messages", name="alice", timeout_s=1)
            assert waited["timed_out"] is True and waited["messages"] == [], waited
            receipts = await ok(bob, "read_receipts", message_id=waited["last_read_id"])
            assert receipts["receipts"][0]["name"] == "alice" and receipts["receipts"][0]["read"] is True, receipts

            await ok(alice, "write_summary", name="alice", content="handing off")
            handoff = await ok(bob, "get_handoff", name="bob")
            assert handoff["latest_summary"]["content"] == "handing off"
            assert handoff["unread_count"] == 0 and handoff["cursor"] == dm["id"] - 1

            none = await alice.call_tool("read_latest_summary", {"scope": "nobody"})
            assert not none.is_error and none.content[0].text == "null"

            assert "limit" in await refused(alice, "read_messages", limit=0)
            assert (await ok(alice, "leave", name="alice")) == {"left": True}
    print("python sdk: ok")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
