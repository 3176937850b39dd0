"""A small in-test hfaxd: the part of the HylaFAX client protocol the gateway speaks.

Replies are shaped as a real hfaxd 6.0 answers them (checked against Debian's hylafax-server);
the tests that reach a real server are in test_fax.py and run when one listens.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from dataclasses import dataclass, field


@dataclass
class FakeJob:
    id: int
    params: dict[str, str] = field(default_factory=dict)
    documents: list[bytes] = field(default_factory=list)
    state: str = "PENDING"
    submitted: bool = False


class FakeHylaFax(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Session)
        self.lock = threading.Lock()
        self.files: dict[str, bytes] = {}
        self.jobs: dict[int, FakeJob] = {}
        self.commands: list[str] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def start(self) -> FakeHylaFax:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Session(socketserver.StreamRequestHandler):
    server: FakeHylaFax

    def reply(self, text: str) -> None:
        self.wfile.write(text.encode() + b"\r\n")

    def handle(self) -> None:
        self.passive: socket.socket | None = None
        self.current: FakeJob | None = None
        self.reply("220 fake server (HylaFAX (tm) Version 6.0.7) ready.")
        while line := self.rfile.readline():
            command = line.decode().rstrip("\r\n")
            with self.server.lock:
                self.server.commands.append(command)
            verb, _, rest = command.partition(" ")
            handler = getattr(self, "do_" + verb.upper(), None)
            if handler is None:
                self.reply(f"500 {verb}: Command not recognized.")
            elif handler(rest) is False:
                return

    def do_USER(self, rest: str) -> None:
        self.reply(f"230 User {rest} logged in.")

    def do_TYPE(self, rest: str) -> None:
        self.reply("200 Type set to Image.")

    def do_JOBFMT(self, rest: str) -> None:
        self.reply("200 JOBFMT command successful.")

    def do_QUIT(self, rest: str) -> bool:
        self.reply("221 Goodbye.")
        return False

    def do_PASV(self, rest: str) -> None:
        self.passive = socket.create_server(("127.0.0.1", 0))
        port = self.passive.getsockname()[1]
        self.reply(f"227 Entering passive mode (127,0,0,1,{port // 256},{port % 256})")

    def _data(self) -> socket.socket:
        assert self.passive is not None, "no PASV before a transfer"
        connection, _ = self.passive.accept()
        self.passive.close()
        self.passive = None
        return connection

    def do_STOT(self, rest: str) -> None:
        with self.server.lock:
            name = f"/tmp/doc{len(self.server.files) + 1}.pdf"
        self.reply(f"150 FILE: {name} (Opening new data connection).")
        connection = self._data()
        chunks = []
        with connection:
            while chunk := connection.recv(65536):
                chunks.append(chunk)
        with self.server.lock:
            self.server.files[name] = b"".join(chunks)
        self.reply(f"226 Transfer complete (FILE: {name}).")

    def do_LIST(self, rest: str) -> None:
        self.reply(f'150 Opening new data connection for "{rest}".')
        done = rest == "doneq"
        with self.server.lock:
            lines = [
                f"{job.id}|{job.params.get('JOBINFO', '')}\r\n"
                for job in self.server.jobs.values()
                if job.submitted and (job.state in ("DONE", "FAILED")) == done
            ]
        with self._data() as connection:
            connection.sendall("".join(lines).encode())
        self.reply("226 Transfer complete.")

    def do_JNEW(self, rest: str) -> None:
        with self.server.lock:
            job = FakeJob(id=len(self.server.jobs) + 1)
            self.server.jobs[job.id] = job
        self.current = job
        self.reply(f"200 New job created: jobid: {job.id} groupid: {job.id}.")

    def do_JOB(self, rest: str) -> None:
        with self.server.lock:
            job = self.server.jobs.get(int(rest)) if rest.isdigit() else None
        if job is None:
            self.reply(f"500 Cannot set job {rest}; job does not exist.")
            return
        self.current = job
        self.reply(f"200 Current job: jobid: {job.id} groupid: {job.id}.")

    def do_JPARM(self, rest: str) -> None:
        name, _, value = rest.partition(" ")
        job = self.current
        if job is None:
            self.reply("503 No current job.")
            return
        name = name.upper()
        if not value:
            current = job.state if name == "STATE" else job.params.get(name, "")
            self.reply(f"213 {current}")
            return
        value = value.strip().strip('"')
        if name == "DOCUMENT":
            with self.server.lock:
                document = self.server.files.get(value)
            if document is None:
                self.reply(f"550 {value}: No such file or directory.")
                return
            job.documents.append(document)
            self.reply(f"200 Added document {value} as docq/doc.{job.id}.")
            return
        job.params[name] = value
        self.reply(f'213 {name} set to "{value}".')

    def do_JSUBM(self, rest: str) -> None:
        job = self.current
        if job is None or not job.documents or "DIALSTRING" not in job.params:
            self.reply("460 Failed to submit job: no work found.")
            return
        job.submitted = True
        job.state = "SLEEPING"  # no modem: the job waits in the queue
        self.reply(f"200 Job {job.id} submitted.")

    def do_JKILL(self, rest: str) -> None:
        with self.server.lock:
            job = self.server.jobs.get(int(rest)) if rest.isdigit() else None
        if job is None:
            self.reply(f"500 Cannot set job {rest}; job does not exist.")
        elif job.state in ("DONE", "FAILED"):
            self.reply(f"504 Job {job.id} not killed; already done.")
        else:
            job.state = "FAILED"
            self.reply(f"200 Job {job.id} killed.")
