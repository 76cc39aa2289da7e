"""The stage's CloudFormation stack: its spec, resources, roles, alarms, and how it is applied.

``spec`` (what a stage's stack depends on) <- ``storage``, ``roles``, ``monitoring``
<- ``template`` (the whole template) <- ``apply`` (create, update, check) and ``drift``
(live resources against the template).
"""
