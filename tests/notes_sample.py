"""A small sample project for the plugin's tests: a spec, a client library and its test
suite, as a user of the mock has them. Its tests reach 4 of the spec's 6 documented
statuses (66.7%): listNotes 200, createNote 201 and 400, getNote 404; never listNotes
500 or getNote 200. Each test appends `worker url operationId status` to the file named
by $NOTES_RECORD, when set, so a test can tell which worker used which mock."""

from __future__ import annotations

from pathlib import Path

SPEC = """\
openapi: 3.1.0
info: {title: Notes, version: "1.0"}
paths:
  /notes:
    get:
      operationId: listNotes
      responses:
        "200":
          description: the notes
          content:
            application/json:
              schema: {type: array, items: {$ref: "#/components/schemas/Note"}}
        "500": {description: the store is down}
    post:
      operationId: createNote
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: "#/components/schemas/NewNote"}
      responses:
        "201":
          description: created
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Note"}
        "400":
          description: invalid
          content:
            application/json:
              schema: {type: object}
  /notes/{id}:
    get:
      operationId: getNote
      parameters:
        - {name: id, in: path, required: true, schema: {type: integer}}
      responses:
        "200":
          description: the note
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Note"}
        "404": {description: no such note}
components:
  schemas:
    Note:
      type: object
      required: [id, text]
      properties:
        id: {type: integer}
        text: {type: string}
    NewNote:
      type: object
      required: [text]
      properties:
        text: {type: string, minLength: 1}
"""

CLIENT = """\
import requests


class NotesClient:
    def __init__(self, base_url, headers=None):
        self.base_url = base_url.rstrip("/")
        self.http = requests.Session()
        self.http.headers.update(headers or {})

    def list(self):
        answer = self.http.get(f"{self.base_url}/notes", timeout=10)
        answer.raise_for_status()
        return answer.json()

    def create(self, text):
        return self.http.post(f"{self.base_url}/notes", json={"text": text}, timeout=10)

    def get(self, note_id, **headers):
        return self.http.get(f"{self.base_url}/notes/{note_id}", headers=headers, timeout=10)
"""

TESTS = """\
import os

from notes_client import NotesClient


def record(mockserver, answer, operation):
    path = os.environ.get("NOTES_RECORD")
    if path:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        with open(path, "a", encoding="utf-8") as out:
            out.write(f"{worker} {mockserver.url} {operation} {answer.status_code}\\n")


def test_list(mockserver):
    client = NotesClient(mockserver.url, mockserver.headers)
    assert isinstance(client.list(), list)
    record(mockserver, client.http.get(client.base_url + "/notes"), "listNotes")
    mockserver.assert_called("listNotes", times=2)


def test_create(mockserver):
    client = NotesClient(mockserver.url, mockserver.headers)
    answer = client.create("buy milk")
    assert answer.status_code == 201 and isinstance(answer.json()["id"], int)
    mockserver.assert_last_body("createNote", {"text": "buy milk"})
    record(mockserver, answer, "createNote")


def test_create_refuses_an_empty_note(mockserver):
    client = NotesClient(mockserver.url, mockserver.headers)
    answer = client.create("")
    assert answer.status_code == 400
    record(mockserver, answer, "createNote")


def test_a_missing_note(mockserver):
    client = NotesClient(mockserver.url, mockserver.headers)
    answer = client.get(7, **{"X-Mock-Status": "404"})
    assert answer.status_code == 404
    record(mockserver, answer, "getNote")
"""


def write_sample(folder: Path) -> Path:
    """The sample project in `folder`: specs/notes.yaml, notes_client.py, conftest.py
    (so that the tests import the client), tests/test_notes.py."""
    (folder / "specs").mkdir(parents=True, exist_ok=True)
    (folder / "specs" / "notes.yaml").write_text(SPEC, encoding="utf-8")
    (folder / "notes_client.py").write_text(CLIENT, encoding="utf-8")
    (folder / "conftest.py").write_text("# makes this folder importable (notes_client)\n")
    (folder / "tests").mkdir(exist_ok=True)
    (folder / "tests" / "test_notes.py").write_text(TESTS, encoding="utf-8")
    return folder
