"""Start gcloud-tasks-emulator bound to 127.0.0.1 (it binds every interface by default).

Runs in its own virtualenv (.venv-tasks) because the emulator pins protobuf<5.
Usage: python dev/tasks_emulator.py PORT QUEUE_PATH [QUEUE_PATH…]
"""

import logging
import sys
import time
from concurrent import futures

import grpc
from gcloud_tasks_emulator import server as emulator


def _run_on_loopback(self) -> None:
    self._httpd = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    emulator.add_CloudTasksServicer_to_server(emulator.Greeter(self._state), self._httpd)
    self._httpd.add_insecure_port(f"127.0.0.1:{self._port}")
    self._httpd.start()
    self._is_running.set()
    while self._is_running.is_set():
        time.sleep(0.1)


def main() -> None:
    port, queues = int(sys.argv[1]), sys.argv[2:]
    logging.basicConfig(level=logging.INFO, stream=sys.stdout)
    emulator.APIThread.run = _run_on_loopback
    # A failing task is retried at once by this emulator (no backoff), so bound the attempts.
    server = emulator.create_server("127.0.0.1", port, default_queue_names=queues, max_retries=8)
    server.run()


if __name__ == "__main__":
    main()
