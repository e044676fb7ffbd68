"""The reviewer's workplace in the Django admin.

Every write goes through governance.services (with ``via="admin-form"`` or
``"admin-action"``), so the admin obeys the same rules as the API: a requester
approving their own request is refused with 403 and audited. The admin views
that act are not wrapped in the admin's transaction, so the audit of a denial
is never rolled back with the refused action.
"""

from governance.admin import ledger, policies, registry, requests  # noqa: F401
