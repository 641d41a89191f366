#!/usr/bin/env python3
"""Sign in to a Pixy-protected MCP server with the Python `mcp` SDK and call its tools.

    pip install "mcp>=2.3,<3"
    python3 Examples/mcp_client.py http://127.0.0.1:8000/mcp --call whoami --call add_note='{"text":"hello"}'

What happens: the first request gets 401; the SDK reads the server's Protected Resource Metadata,
then Pixy's metadata, registers itself (RFC 7591), and opens Pixy's sign-in page in your browser
(the URL is also printed). After you sign in and approve, Pixy redirects to this script's loopback
port (RFC 8252), the SDK redeems the code with PKCE and `resource`, and the tools run. A tool that
needs more scope (add_note needs `write`) makes the server answer 403 insufficient_scope and the
SDK asks you again, for the union of scopes.
"""
import argparse
import asyncio
import html
import http.server
import json
import secrets
import ssl
import threading
import urllib.parse as up
import webbrowser

import httpx2
from mcp.client.auth import OAuthClientProvider
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata


class MemoryStorage:
    """Tokens and the registration, for this run only."""

    def __init__(self):
        self.tokens = None
        self.client_info = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info):
        self.client_info = client_info


class LoopbackRedirect:
    """An HTTP server on 127.0.0.1 that receives the authorization response (RFC 8252 §7.3).

    Only a GET of the callback path whose `state` equals the one of the pending request counts
    (RFC 6749 §10.12, RFC 9700 §4.7): anything else a browser asks for, such as /favicon.ico after
    the page loads, is answered 404, and a missing or wrong `state` gets an error page; neither is
    taken as the sign-in's result.
    """

    PATH = "/callback"

    def __init__(self):
        self.results: asyncio.Queue = asyncio.Queue()
        self.loop = asyncio.get_running_loop()
        self.lock = threading.Lock()
        self.pending_state: str | None = None
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                url = up.urlparse(self.path)
                if url.path != LoopbackRedirect.PATH:
                    return self.page(404, "Not found", "This address only receives the sign-in callback.")
                query = {k: v[0] for k, v in up.parse_qs(url.query).items()}
                if not outer.accept(query.get("state")):
                    return self.page(400, "Sign-in not accepted",
                                     "This response does not belong to the sign-in this client started (state mismatch). "
                                     "Start again from the client.")
                if "code" in query:
                    self.page(200, "Sign-in finished", "You can close this window and return to the client.")
                else:
                    self.page(200, "Sign-in failed", f"{query.get('error', 'no code')}: {query.get('error_description', '')}")
                outer.loop.call_soon_threadsafe(outer.results.put_nowait, query)

            def page(self, status: int, title: str, text: str) -> None:
                body = (f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>"
                        f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>").encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.redirect_uri = f"http://127.0.0.1:{self.server.server_address[1]}{self.PATH}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def expect(self, authorization_url: str) -> None:
        """Remembers the `state` of the authorization request about to be opened."""
        state = up.parse_qs(up.urlparse(authorization_url).query).get("state", [None])[0]
        with self.lock:
            self.pending_state = state

    def accept(self, state: str | None) -> bool:
        """True once for the pending request's state; a second delivery is refused."""
        with self.lock:
            if state is None or self.pending_state is None or not secrets.compare_digest(state.encode(), self.pending_state.encode()):
                return False
            self.pending_state = None
            return True


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("server", help="the MCP endpoint, e.g. http://127.0.0.1:8000/mcp")
    parser.add_argument("--call", action="append", default=[], help="tool[=JSON arguments]; repeat")
    parser.add_argument("--no-browser", action="store_true", help="only print the sign-in URL")
    parser.add_argument("--ca-file", help="PEM CA to trust (a test or private CA)")
    args = parser.parse_args()

    redirect = LoopbackRedirect()

    async def redirect_handler(url: str) -> None:
        redirect.expect(url)
        print(f"AUTHORIZE {url}", flush=True)
        if not args.no_browser:
            webbrowser.open(url)

    async def callback_handler() -> AuthorizationCodeResult:
        query = await redirect.results.get()
        if "code" not in query:
            raise SystemExit(f"sign-in failed: {query.get('error')} {query.get('error_description', '')}")
        return AuthorizationCodeResult(code=query["code"], state=query.get("state"), iss=query.get("iss"))

    metadata = OAuthClientMetadata(client_name="Pixy example Python client", redirect_uris=[redirect.redirect_uri],
                                   grant_types=["authorization_code", "refresh_token"], response_types=["code"],
                                   token_endpoint_auth_method="none")
    provider = OAuthClientProvider(server_url=args.server, client_metadata=metadata, storage=MemoryStorage(),
                                   redirect_handler=redirect_handler, callback_handler=callback_handler)
    verify = ssl.create_default_context(cafile=args.ca_file) if args.ca_file else True
    async with httpx2.AsyncClient(auth=provider, timeout=60, verify=verify) as http:
        async with streamable_http_client(args.server, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = await session.list_tools()
                print("TOOLS " + " ".join(sorted(tool.name for tool in tools.tools)), flush=True)
                for call in args.call:
                    name, _, arguments = call.partition("=")
                    result = await session.call_tool(name, json.loads(arguments) if arguments else {})
                    text = " ".join(getattr(item, "text", "") for item in result.content).replace("\n", " | ")
                    print(f"RESULT {name} {text}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
