"""The web code processes/archive and processes/hukou share, built per kind of transfer information.

A library package, not a process module: it is not listed in processes/__init__.py and declares no
ProcessModule of its own. Each of the two modules describes its kind once (a `TransferSpec`: the domain
`Kind`, its process ids, its forms, its OpenAPI words) and builds its module with `TransferWeb(spec).module()`:
the page, school and API blueprints under the module's own names, the record and review parts, the handlers.
The rules both kinds follow are in domain.transfers; this package imports neither module.

Templates: `transfers/…` here (the 信息栏, the form skeletons, the 省/市/区 picker, the record and review
parts) are found through every kind's blueprint (`KindBlueprint`); each kind keeps its own fields in
`<kind>/_fields.html`, `<kind>/form.html` and `<kind>/school_list.html`.
"""
from __future__ import annotations
