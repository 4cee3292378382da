"""A real Apache Kafka broker for the tests (`make test-kafka`).

`python -m tests.apache_kafka build` assembles the broker's jars from Maven Central with
the machine's Maven into `.cache/kafka/<version>/libs` (once; the folder is git-ignored).
`ApacheKafka` starts a single KRaft node (broker and controller in one process) on free
loopback ports with a fresh log directory, optionally with a SASL/PLAIN listener, and
stops it, so no process outlives the test session.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engage.processes import ServerProcess, StartupError, free_port, start_process

ROOT = Path(__file__).resolve().parents[1]
POM = ROOT / "tests" / "kafka" / "pom.xml"
VERSION = "4.1.1"
CACHE = ROOT / ".cache" / "kafka" / VERSION


class ToolMissingError(RuntimeError):
    pass


def require_tools() -> tuple[str, str]:
    java, mvn = shutil.which("java"), shutil.which("mvn")
    missing = [
        name for name, path in (("java (a JDK 17+)", java), ("mvn (Apache Maven)", mvn)) if not path
    ]
    if missing:
        raise ToolMissingError(
            "make test-kafka assembles Apache Kafka with Java and Maven; install "
            + " and ".join(missing)
            + " (Debian: apt-get install openjdk-17-jdk-headless maven)"
        )
    assert java is not None
    assert mvn is not None
    return java, mvn


def build() -> Path:
    """The folder of the broker's jars, assembled from Maven Central if not cached."""
    libs = CACHE / "libs"
    if libs.is_dir() and any(libs.glob("kafka_2.13-*.jar")):
        return libs
    _, mvn = require_tools()
    partial = CACHE / "libs.partial"
    shutil.rmtree(partial, ignore_errors=True)
    subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={partial}",
        ],
        check=True,
    )
    partial.rename(libs)
    return libs


LOG4J2 = """status = warn
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d %p %c{1}: %m%n
rootLogger.level = warn
rootLogger.appenderRef.console.ref = console
"""


@dataclass
class ApacheKafka:
    server: ServerProcess
    bootstrap: str
    workdir: Path
    argv: list[str]
    port: int

    def stop(self) -> None:
        self.server.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def stop_for(self, seconds: float, during: Callable[[], None]) -> None:
        """Run `during`, stop the broker (a clean shutdown), wait out `seconds`, and start
        it again on the same port and log directory: every record it acknowledged, and
        every committed offset, is still there."""
        during()
        self.server.stop(timeout_s=30.0)
        time.sleep(seconds)
        self.server = start_process("apache-kafka", self.argv, self.port, 90.0, cwd=self.workdir)


def start(sasl_users: dict[str, str] | None = None, timeout_s: float = 60.0) -> ApacheKafka:
    """A fresh single-node KRaft broker; with `sasl_users`, its listener is SASL/PLAIN."""
    java, _ = require_tools()
    libs = build()
    workdir = Path(tempfile.mkdtemp(prefix="engage-kafka-"))
    port, controller = free_port(), free_port()
    listener = "SASL_PLAINTEXT" if sasl_users else "PLAINTEXT"
    lines = [
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@127.0.0.1:{controller}",
        f"listeners={listener}://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
        f"advertised.listeners={listener}://127.0.0.1:{port}",
        "controller.listener.names=CONTROLLER",
        f"inter.broker.listener.name={listener}",
        f"listener.security.protocol.map={listener}:{listener},CONTROLLER:PLAINTEXT",
        f"log.dirs={workdir / 'data'}",
        "num.partitions=1",
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=4",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "auto.create.topics.enable=true",
    ]
    if sasl_users:
        users = " ".join(f'user_{name}="{password}"' for name, password in sasl_users.items())
        admin_name, admin_password = next(iter(sasl_users.items()))
        lines += [
            "sasl.enabled.mechanisms=PLAIN",
            "sasl.mechanism.inter.broker.protocol=PLAIN",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config="
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="{admin_name}" password="{admin_password}" {users};',
        ]
    properties = workdir / "server.properties"
    properties.write_text("\n".join(lines) + "\n")
    (workdir / "log4j2.properties").write_text(LOG4J2)
    classpath = f"{libs}/*"
    cluster_id = cluster_id_for_storage_tool()
    subprocess.run(
        [
            java,
            "-cp",
            classpath,
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster_id,
            "-c",
            str(properties),
        ],
        check=True,
        capture_output=True,
    )
    argv = [
        java,
        "-Xms256m",
        "-Xmx768m",
        f"-Dlog4j2.configurationFile={workdir / 'log4j2.properties'}",
        "-cp",
        classpath,
        "kafka.Kafka",
        str(properties),
    ]
    try:
        server = start_process("apache-kafka", argv, port, timeout_s, cwd=workdir)
    except StartupError:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return ApacheKafka(server, f"127.0.0.1:{port}", workdir, argv, port)


if __name__ == "__main__":
    if sys.argv[1:] == ["build"]:
        try:
            print(f"Apache Kafka {VERSION} jars in {build()}")
        except ToolMissingError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)
    else:
        print("usage: python -m tests.apache_kafka build", file=sys.stderr)
        sys.exit(2)


def cluster_id_for_storage_tool() -> str:
    """A random cluster id as Kafka writes them (url-safe base64 of 16 bytes) that does
    not start with `-`: StorageTool would read one that does as an option and refuse it,
    one start in 64."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id
