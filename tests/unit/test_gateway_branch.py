"""`POST /api/v1/branch/{page_id}`: the policy's refusals are 409s with the reason, a deep page included."""

import falcon
import falcon.asgi
import falcon.testing
import pytest

from gateway.resources.pipeline import BranchResource
from shared.qdpi.policy import MAX_BRANCH_DEPTH


class Pages:
    def __init__(self, depth: int, open_branches: int = 0):
        self.depth, self.open_branches = depth, open_branches

    async def by_id(self, page_id):
        return {"page_id": page_id, "character": "glyph-marrow", "section": 3, "branch_depth": self.depth}

    async def section_stats(self, section):
        return {"section": section, "open_branches": self.open_branches, "return_debt": self.open_branches,
                "pages_generated": 0}


class Producer:
    def __init__(self):
        self.published = []

    async def publish(self, event):
        self.published.append(event)


def _post(pages):
    producer = Producer()
    app = falcon.asgi.App()
    app.add_route("/api/v1/branch/{page_id}", BranchResource(producer, pages))
    resp = falcon.testing.TestClient(app).simulate_post("/api/v1/branch/S03-P0007", json={"session_id": "reader-1"})
    return resp, producer.published


@pytest.mark.parametrize("depth", [MAX_BRANCH_DEPTH, MAX_BRANCH_DEPTH + 1])
def test_forking_from_a_page_that_must_return_is_409(depth):
    resp, published = _post(Pages(depth))
    assert resp.status == falcon.HTTP_409
    assert f"branch is {depth} pages deep: it must return to canon" in resp.json["description"]
    assert published == []


def test_forking_below_max_depth_is_accepted_and_a_full_section_is_409():
    resp, published = _post(Pages(MAX_BRANCH_DEPTH - 1))
    assert resp.status == falcon.HTTP_202 and len(published) == 1
    full, published = _post(Pages(0, open_branches=2))
    assert full.status == falcon.HTTP_409 and "2 branches are already open" in full.json["description"]
    assert published == []
