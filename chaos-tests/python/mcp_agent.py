"""A scripted agent session against `meridian mcp`, with the Python `mcp`
package (the reference MCP client): over stdio (the server acts as the user
whose keys it was started with) and over streamable HTTP (as whoever's
bearer token comes with each request). Prints one JSON object of what each
step saw; the Rust test decides.

Usage: mcp_agent.py stdio MERIDIAN_BIN CLIENT_ENDPOINT S3_ENDPOINT DATASET BUCKET KEY
       mcp_agent.py http URL TOKEN DATASET
(stdio reads the user's keys from MERIDIAN_ACCESS_KEY / MERIDIAN_SECRET_KEY.)
"""

import asyncio
import json
import os
import sys
import urllib.request

from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client


def text(result):
    """The tool result's text, and whether it is an error."""
    parts = [c.text for c in result.content if getattr(c, "type", "") == "text"]
    return "\n".join(parts), bool(getattr(result, "is_error", None) or getattr(result, "isError", False))


async def session_steps(session, dataset, obj):
    out = {}
    await session.initialize()
    tools = await session.list_tools()
    out["tools"] = sorted(t.name for t in tools.tools)
    found, err = text(await session.call_tool(
        "search_datasets", {"filters": ["dataset.keywords=neutrino"]}))
    out["search"] = {"error": err, "answer": json.loads(found) if not err else found}
    card, err = text(await session.call_tool("get_card", {"name": dataset}))
    out["card"] = {"error": err, "head": card.splitlines()[0] if card else ""}
    ready, err = text(await session.call_tool("get_readiness", {"name": dataset}))
    out["readiness"] = json.loads(ready) if not err else ready
    files, err = text(await session.call_tool("list_files", {"name": dataset}))
    out["files"] = json.loads(files) if not err else files
    wrote, err = text(await session.call_tool(
        "set_metadata",
        {"name": dataset, "package": "results", "document": {"publications": []}}))
    out["write"] = {"error": err, "answer": wrote}
    if obj is not None:
        bucket, key = obj
        rep, err = text(await session.call_tool(
            "check_replication", {"bucket": bucket, "key": key}))
        out["replication"] = json.loads(rep) if not err else rep
        signed, err = text(await session.call_tool(
            "presign_download", {"bucket": bucket, "key": key, "expires_s": 300}))
        out["presign"] = {"error": err}
        if not err:
            url = json.loads(signed)["url"]
            with urllib.request.urlopen(url, timeout=30) as r:
                out["presign"]["status"] = r.status
                out["presign"]["bytes"] = len(r.read())
    return out


async def over_stdio(meridian, client_endpoint, s3_endpoint, dataset, bucket, key):
    params = StdioServerParameters(
        command=meridian,
        args=["mcp", "--endpoint", client_endpoint, "--s3-endpoint", s3_endpoint],
        env={
            "MERIDIAN_ACCESS_KEY": os.environ["MERIDIAN_ACCESS_KEY"],
            "MERIDIAN_SECRET_KEY": os.environ["MERIDIAN_SECRET_KEY"],
            "PATH": os.environ.get("PATH", ""),
        },
    )
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            return await session_steps(session, dataset, (bucket, key))


async def over_http(url, token, dataset):
    import httpx2 as httpx

    from mcp.client.streamable_http import streamable_http_client

    out = {}
    # Without a token: refused before any MCP is spoken.
    try:
        status = httpx.post(url, json={}, timeout=10).status_code
    except Exception as e:  # noqa: BLE001 - reported, the test decides
        status = str(e)
    out["unauthenticated_status"] = status
    client = httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
    async with streamable_http_client(url, http_client=client) as streams:
        read, write = streams[0], streams[1]
        async with ClientSession(read, write) as session:
            out.update(await session_steps(session, dataset, None))
    return out


def main():
    mode = sys.argv[1]
    if mode == "stdio":
        result = asyncio.run(over_stdio(*sys.argv[2:8]))
    else:
        result = asyncio.run(over_http(*sys.argv[2:5]))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
