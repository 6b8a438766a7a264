"""The tenant model's promises around a write (pure: a model on a temporary store)."""
import pytest

from rest.attributes import RESOURCES, parse_body
from ryu_app.model.segments import SegmentPools
from ryu_app.model.store import Store, StoreLocked
from ryu_app.model.tenant import NetworkModel


def model(path) -> NetworkModel:
    segments = SegmentPools(tunnel_ranges={"vxlan": [(1001, 2000)]}, vlan_ranges={},
                            flat_networks=())
    return NetworkModel(Store(str(path)), segments)


def create(network_model: NetworkModel, kind: str, **values) -> dict:
    parsed = parse_body(kind, RESOURCES[kind], {kind: values}, True)
    return getattr(network_model, f"create_{kind}")(parsed)


def test_a_failing_listener_neither_undoes_the_write_nor_silences_the_others(tmp_path):
    network_model = model(tmp_path / "db.sqlite")
    heard = []

    def broken(kind, old, new):
        raise RuntimeError("no free local VLAN")
    network_model.listeners += [broken, lambda kind, old, new: heard.append(new["id"])]
    network = create(network_model, "network", name="kept")
    assert heard == [network["id"]]
    network_model.store.close()
    assert model(tmp_path / "db.sqlite").show("network", network["id"]) == network


def test_one_database_serves_one_controller(tmp_path):
    Store(str(tmp_path / "db.sqlite"))
    with pytest.raises(StoreLocked, match="in use by another controller"):
        Store(str(tmp_path / "db.sqlite"))
