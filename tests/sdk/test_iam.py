"""SCIM users and groups through the official SDK: create, get, list with filters, patch,
update, delete, group membership and NotFound errors."""

import pytest
from databricks.sdk.errors import NotFound, ResourceConflict
from databricks.sdk.service import iam


def _patch(op, path, value=None):
    return iam.Patch(op=op, path=path, value=value)


PATCH_SCHEMA = [iam.PatchSchema.URN_IETF_PARAMS_SCIM_API_MESSAGES_2_0_PATCH_OP]


def test_me_is_the_admin(w):
    me = w.current_user.me()
    assert me.user_name == "admin@brickwire.local"
    assert any(g.display == "admins" for g in me.groups)


def test_user_lifecycle(w):
    created = w.users.create(
        user_name="sdk-ann@example.com",
        display_name="Ann SDK",
        entitlements=[iam.ComplexValue(value="workspace-access")],
    )
    assert created.id and created.active
    got = w.users.get(created.id)
    assert got.user_name == "sdk-ann@example.com"
    assert got.display_name == "Ann SDK"

    w.users.patch(
        created.id,
        operations=[
            # The SDK drops a plain False; Databricks documents this shape instead.
            _patch(iam.PatchOp.REPLACE, "active", [{"value": "false"}]),
            _patch(iam.PatchOp.ADD, "entitlements", [{"value": "databricks-sql-access"}]),
        ],
        schemas=PATCH_SCHEMA,
    )
    got = w.users.get(created.id)
    assert got.active is False
    assert {e.value for e in got.entitlements} == {"workspace-access", "databricks-sql-access"}

    w.users.update(created.id, user_name="sdk-ann@example.com", display_name="Ann Replaced", active=True)
    got = w.users.get(created.id)
    assert got.display_name == "Ann Replaced"
    assert got.entitlements is None or got.entitlements == []

    w.users.delete(created.id)
    with pytest.raises(NotFound):
        w.users.get(created.id)


def test_list_filters_and_paging(w):
    ids = [
        w.users.create(user_name=f"list-{i}@example.com", display_name=f"Lister {i}").id for i in range(5)
    ]
    found = list(w.users.list(filter='userName eq "list-3@example.com"'))
    assert [u.id for u in found] == [ids[3]]
    found = list(w.users.list(filter='displayName sw "lister" and userName ne "list-0@example.com"'))
    assert sorted(u.id for u in found) == sorted(ids[1:])
    found = list(w.users.list(filter='userName eq "list-1@example.com" or userName eq "list-2@example.com"'))
    assert sorted(u.id for u in found) == sorted(ids[1:3])
    # The SDK pages with startIndex/count; a page size of 2 still yields everything once.
    paged = [u.id for u in w.users.list(filter='userName co "list-"', count=2, sort_by="userName")]
    assert paged == ids
    names = [u.user_name for u in w.users.list(attributes="userName", filter='userName sw "list-"')]
    assert len(names) == 5
    with pytest.raises(Exception) as err:
        list(w.users.list(filter="userName eq"))
    assert "invalidFilter" in str(err.value)


def test_duplicate_user_conflicts(w):
    w.users.create(user_name="dup@example.com")
    with pytest.raises(ResourceConflict):
        w.users.create(user_name="DUP@example.com")


def test_groups_and_members(w):
    alice = w.users.create(user_name="g-alice@example.com")
    bob = w.users.create(user_name="g-bob@example.com")
    group = w.groups.create(display_name="sdk-engineers", members=[iam.ComplexValue(value=alice.id)])
    assert [m.value for m in w.groups.get(group.id).members] == [alice.id]

    w.groups.patch(
        group.id,
        operations=[_patch(iam.PatchOp.ADD, "members", [{"value": bob.id}])],
        schemas=PATCH_SCHEMA,
    )
    assert {m.value for m in w.groups.get(group.id).members} == {alice.id, bob.id}
    assert [g.value for g in w.users.get(bob.id).groups] == [group.id]

    w.groups.patch(
        group.id,
        operations=[_patch(iam.PatchOp.REMOVE, f'members[value eq "{alice.id}"]')],
        schemas=PATCH_SCHEMA,
    )
    assert [m.value for m in w.groups.get(group.id).members] == [bob.id]

    listed = list(w.groups.list(filter='displayName eq "sdk-engineers"'))
    assert [g.id for g in listed] == [group.id]

    w.users.delete(bob.id)
    assert not w.groups.get(group.id).members

    w.groups.delete(group.id)
    with pytest.raises(NotFound):
        w.groups.get(group.id)
    with pytest.raises(NotFound):
        w.groups.delete(group.id)
