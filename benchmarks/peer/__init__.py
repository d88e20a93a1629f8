"""A peer benchmark: the same HTTP workloads against CRMForge and another CRM platform.

The rest of ``benchmarks/`` compares CRMForge with hand-written code inside one process.
This package answers a different question, "how does CRMForge compare with a platform
people would pick instead?", and the only fair way to ask it is from outside: one client,
one machine, one set of settings, speaking each server's public REST API. An adapter per
target (``adapters.CRMForgeAdapter``, ``frappe.FrappeAdapter``) turns the workloads into
that target's requests; everything else (threads, timing, statistics, output) is shared,
so a difference in the numbers is a difference between the servers.

Run ``python -m benchmarks.peer --help``.
"""
