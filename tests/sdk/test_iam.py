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


# --- PATCH forms of RFC 7644 section 3.5.2, as Databricks documents them -------------------------


def _values(items):
    return sorted(i.value for i in (items or []))


@pytest.fixture()
def people(w, request):
    """Three fresh users, unique per test, deleted afterwards."""
    tag = request.node.name.replace("[", "-").replace("]", "")[-40:]
    users = [w.users.create(user_name=f"{tag}-{n}@example.com", display_name=f"{tag} {n}") for n in "abc"]
    yield users
    for u in users:
        try:
            w.users.delete(u.id)
        except NotFound:
            pass


def test_group_patch_every_op_and_path_form(w, people):
    a, b, c = people
    group = w.groups.create(
        display_name="patch-forms",
        members=[iam.ComplexValue(value=a.id)],
        entitlements=[iam.ComplexValue(value="workspace-access")],
    )
    steps = [
        # add with a path: appended, an existing member is not doubled
        ([_patch(iam.PatchOp.ADD, "members", [{"value": b.id}, {"value": a.id}])], {a.id, b.id}),
        # remove with a filtered path and no value (what the SDK and the UI send)
        ([_patch(iam.PatchOp.REMOVE, f'members[value eq "{a.id}"]')], {b.id}),
        # add without a path: the value is an object of attributes
        ([_patch(iam.PatchOp.ADD, None, {"members": [{"value": c.id}]})], {b.id, c.id}),
        # replace with a path: the whole list
        ([_patch(iam.PatchOp.REPLACE, "members", [{"value": a.id}])], {a.id}),
        # replace without a path
        ([_patch(iam.PatchOp.REPLACE, None, {"members": [{"value": b.id}, {"value": c.id}]})], {b.id, c.id}),
        # remove with a value and no filter (Azure AD's shape)
        ([_patch(iam.PatchOp.REMOVE, "members", [{"value": b.id}])], {c.id}),
        # several operations apply in order, in one request
        (
            [
                _patch(iam.PatchOp.ADD, "members", [{"value": a.id}]),
                _patch(iam.PatchOp.REMOVE, f'members[value eq "{c.id}"]'),
            ],
            {a.id},
        ),
        # remove the whole attribute
        ([_patch(iam.PatchOp.REMOVE, "members")], set()),
    ]
    for operations, expected in steps:
        w.groups.patch(group.id, operations=operations, schemas=PATCH_SCHEMA)
        got = w.groups.get(group.id)
        assert {m.value for m in (got.members or [])} == expected, operations

    # one entitlement dropped by a filtered remove, another added, the name replaced by a path
    w.groups.patch(
        group.id,
        operations=[
            _patch(iam.PatchOp.ADD, "entitlements", [{"value": "databricks-sql-access"}]),
            _patch(iam.PatchOp.REMOVE, 'entitlements[value eq "workspace-access"]'),
            _patch(iam.PatchOp.REPLACE, "displayName", "patch-forms-renamed"),
        ],
        schemas=PATCH_SCHEMA,
    )
    got = w.groups.get(group.id)
    assert _values(got.entitlements) == ["databricks-sql-access"]
    assert got.display_name == "patch-forms-renamed"
    w.groups.delete(group.id)


def test_user_patch_every_op_and_path_form(w, people):
    a, _, _ = people
    group = w.groups.create(display_name="user-patch-forms")
    w.users.patch(
        a.id,
        operations=[
            _patch(iam.PatchOp.ADD, "entitlements", [{"value": "allow-cluster-create"}, {"value": "workspace-access"}]),
            _patch(iam.PatchOp.REPLACE, None, {"displayName": "Patched By Object", "externalId": "ext-1"}),
            _patch(iam.PatchOp.ADD, "groups", [{"value": group.id}]),
            _patch(iam.PatchOp.REPLACE, "name.givenName", "Ann"),
        ],
        schemas=PATCH_SCHEMA,
    )
    got = w.users.get(a.id)
    assert _values(got.entitlements) == ["allow-cluster-create", "workspace-access"]
    assert got.display_name == "Patched By Object"
    assert got.external_id == "ext-1"
    assert got.name.given_name == "Ann"
    assert [g.value for g in got.groups] == [group.id]
    assert [m.value for m in w.groups.get(group.id).members] == [a.id]

    # a filtered path with a sub-attribute: only the matching entry changes
    w.users.patch(
        a.id,
        operations=[_patch(iam.PatchOp.REPLACE, 'emails[type eq "work"].value', "ann.new@example.com")],
        schemas=PATCH_SCHEMA,
    )
    got = w.users.get(a.id)
    assert [e.value for e in got.emails] == ["ann.new@example.com"]
    assert got.user_name == a.user_name, "userName never changes by PATCH"

    w.users.patch(
        a.id,
        operations=[
            _patch(iam.PatchOp.REMOVE, 'entitlements[value eq "allow-cluster-create"]'),
            _patch(iam.PatchOp.REMOVE, f'groups[value eq "{group.id}"]'),
            _patch(iam.PatchOp.REMOVE, "externalId"),
        ],
        schemas=PATCH_SCHEMA,
    )
    got = w.users.get(a.id)
    assert _values(got.entitlements) == ["workspace-access"]
    assert not got.groups
    assert got.external_id is None
    assert not w.groups.get(group.id).members
    w.groups.delete(group.id)


def test_patch_errors_name_what_is_wrong(w, people):
    a, _, _ = people
    group = w.groups.create(display_name="patch-errors")
    cases = [
        (_patch(iam.PatchOp.ADD, "members"), "value"),
        (_patch(iam.PatchOp.REMOVE, None), "path"),
        (_patch(iam.PatchOp.ADD, "members[value eq", [{"value": a.id}]), "path"),
        (_patch(iam.PatchOp.REPLACE, "id", "123"), "id"),
        (_patch(iam.PatchOp.ADD, "members", [{"value": "999999"}]), "999999"),
    ]
    for operation, named in cases:
        with pytest.raises(Exception) as err:
            w.groups.patch(group.id, operations=[operation], schemas=PATCH_SCHEMA)
        assert named in str(err.value), (operation, str(err.value))
    # nothing of a failed request is applied, even the operations before the bad one
    with pytest.raises(Exception):
        w.groups.patch(
            group.id,
            operations=[
                _patch(iam.PatchOp.ADD, "members", [{"value": a.id}]),
                _patch(iam.PatchOp.REPLACE, "id", "123"),
            ],
            schemas=PATCH_SCHEMA,
        )
    assert not w.groups.get(group.id).members
    w.groups.delete(group.id)


def test_members_carry_value_display_and_ref(w, people):
    a, b, _ = people
    inner = w.groups.create(display_name="members-inner")
    group = w.groups.create(
        display_name="members-outer",
        members=[iam.ComplexValue(value=a.id), iam.ComplexValue(value=inner.id)],
    )
    assert {(m.value, m.display, m.ref) for m in group.members} == {
        (a.id, a.display_name, f"Users/{a.id}"),
        (inner.id, "members-inner", f"Groups/{inner.id}"),
    }
    w.groups.patch(group.id, operations=[_patch(iam.PatchOp.ADD, "members", [{"value": b.id}])], schemas=PATCH_SCHEMA)
    got = w.groups.get(group.id)
    assert {(m.value, m.display, m.ref) for m in got.members} == {
        (a.id, a.display_name, f"Users/{a.id}"),
        (b.id, b.display_name, f"Users/{b.id}"),
        (inner.id, "members-inner", f"Groups/{inner.id}"),
    }
    user = w.users.get(b.id)
    assert [(g.value, g.display, g.ref) for g in user.groups] == [(group.id, "members-outer", f"Groups/{group.id}")]
    # deleting a user or a group removes it from every group it was in
    w.users.delete(b.id)
    w.groups.delete(inner.id)
    assert [m.value for m in w.groups.get(group.id).members] == [a.id]
    w.groups.delete(group.id)


@pytest.mark.parametrize("page_size", [10, 25])
def test_paging_yields_each_match_once_at_page_boundaries(w, page_size):
    ids = {w.users.create(user_name=f"pager-{i:02}@example.com").id for i in range(25)}
    # Others that the filter must leave out.
    others = [w.users.create(user_name=f"not-a-pager-{i}@example.com").id for i in range(3)]
    try:
        seen = [u.id for u in w.users.list(filter='userName sw "pager-"', count=page_size)]
        assert len(seen) == len(set(seen)) == 25
        assert set(seen) == ids
        by_name = [u.user_name for u in w.users.list(filter='userName sw "pager-"', count=page_size, sort_by="userName")]
        assert by_name == [f"pager-{i:02}@example.com" for i in range(25)]
        groups = {w.groups.create(display_name=f"pg-{page_size}-{i:02}").id for i in range(25)}
        seen = [g.id for g in w.groups.list(filter=f'displayName sw "pg-{page_size}-"', count=page_size)]
        assert len(seen) == 25 and set(seen) == groups
        for g in groups:
            w.groups.delete(g)
    finally:
        for u in list(ids) + others:
            w.users.delete(u)
