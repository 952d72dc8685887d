"""One module per kind of resource, each with a planner (what exists → an Action) and an applier (do it).

Each planner reads what the workspace holds and compares it with the generated file; each applier
carries out the Action its planner returned. `PLANNERS` and `APPLIERS` map a manifest kind to them.
"""
