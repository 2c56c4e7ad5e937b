"""A local OpenAI-compatible chat server for tests, on raw asyncio streams so that it can
misbehave exactly: answer 500, hang, send malformed JSON, or drop the connection.

Behaviour is chosen per request by a marker in the last user message ("[fault:500]",
"[fault:hang]", "[fault:badjson]", "[fault:drop]", "[fault:400]", "[flaky:N]": fail N times
with 500, then answer), else it answers like a model would: a caption for a vision request,
a fused sentence for a fusion request ("Text: ..." in the prompt).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections import Counter
from typing import Any


def last_user_text(body: dict[str, Any]) -> str:
    content = body["messages"][-1]["content"]
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content


def model_answer(body: dict[str, Any]) -> str:
    content = body["messages"][-1]["content"]
    if isinstance(content, list):
        return "A close-up photo of an object on a plain background."
    text = last_user_text(body)
    match = re.search(r"Text: (.*)", text)
    if match:
        return match.group(1).rstrip(". ") + ", shown in a clear photo."
    match = re.search(r"Labels: ([^(,]+)", text)
    if match:
        return f"A photo of a {match.group(1).strip()}."
    return "A plain answer."


class FakeOpenAIServer:
    def __init__(self, delay_s: float = 0.0, hang_s: float = 30.0):
        self.delay_s = delay_s
        self.hang_s = hang_s
        self.received: list[dict[str, Any]] = []  # every request body, in arrival order
        self.answered: list[dict[str, Any]] = []  # bodies that got a 200 with a valid answer
        self.seen: Counter[str] = Counter()  # per last-user-text
        self.in_flight = 0
        self.max_in_flight = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0), self._loop)
        self._server = future.result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # keep-alive: several requests per connection
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
                body = json.loads(await reader.readexactly(length))
                if not await self._respond(body, writer):
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _respond(self, body: dict[str, Any], writer: asyncio.StreamWriter) -> bool:
        text = last_user_text(body)
        with self._lock:
            self.received.append(body)
            self.seen[text] += 1
            count = self.seen[text]
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            flaky = re.search(r"\[flaky:(\d+)\]", text)
            if "[fault:hang]" in text:
                await asyncio.sleep(self.hang_s)
                return False
            if "[fault:drop]" in text:
                return False  # close without a byte of response
            if "[fault:500]" in text or (flaky and count <= int(flaky.group(1))):
                self._send(writer, 500, b'{"error": "internal"}')
            elif "[fault:400]" in text:
                self._send(writer, 400, b'{"error": "bad request"}')
            elif "[fault:badjson]" in text:
                self._send(writer, 200, b'{"choices": [{"message": {"content": "trunc')
            else:
                answer = {"choices": [{"index": 0, "finish_reason": "stop", "message": {
                    "role": "assistant", "content": model_answer(body)}}]}
                self._send(writer, 200, json.dumps(answer).encode())
                with self._lock:
                    self.answered.append(body)
            await writer.drain()
            return True
        finally:
            with self._lock:
                self.in_flight -= 1

    @staticmethod
    def _send(writer: asyncio.StreamWriter, status: int, payload: bytes) -> None:
        reason = {200: "OK", 400: "Bad Request", 500: "Internal Server Error"}[status]
        writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
