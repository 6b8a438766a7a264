"""How listings order what is stored (pure)."""
from rest.api import _sort_value


def test_list_sorting_orders_values_of_mixed_kinds_without_comparing_them():
    """A listing sorted by a key whose stored values differ in kind (from an older
    release) is ordered, not a 500: numbers, then strings, then the rest, then null."""
    values = [None, "b", [], 2, False, {"a": 1}, "a", 1.5]
    assert sorted(values, key=_sort_value) == [False, 1.5, 2, "a", "b", [], {"a": 1}, None]
