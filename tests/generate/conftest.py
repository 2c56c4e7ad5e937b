import pytest


@pytest.fixture
def fake_server():
    from fake_openai import FakeOpenAIServer

    with FakeOpenAIServer(hang_s=10.0) as server:
        yield server
