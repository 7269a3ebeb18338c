"""Policy slots: what a learned policy in the organization's triage, SLA or cost slot sees and does.

================  ==========================================================================
module            what it holds
================  ==========================================================================
``features``      the triage observation (``TRIAGE_FEATURES``, ``triage_features``)
``route_mask``    the triage action mask (``route_mask``)
``sla_optimizer``  the SLA optimizer's view and lever (``SlaOptimizer``)
``cost_optimizer`` the cost optimizer's view and lever (``CostOptimizer``)
``resolve``       what fills a slot (``PolicyLike``, ``resolve_slots``, ``Slots``, ``SLOT_SPACES``)
``runner``        the slots driving an episode (``run_episode``, ``RouteSlot``, ``OptimizerSlot``)
================  ==========================================================================

The training environments (``envs``) build their observations and masks with these same
functions, so a policy sees in deployment exactly what it saw in training.
"""
