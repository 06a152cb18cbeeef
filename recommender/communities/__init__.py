"""Taste communities: users who rate alike, found by clustering a run's user vectors.

``communities_build(run=...)`` (``storing``) runs after each training, before the run becomes active:

1. ``clustering`` — the ranking model's user vectors are L2-normalised (two users with the same
   taste but different activity point the same way) and clustered with k-means. ``k`` is
   ``RECOMMENDER_COMMUNITIES_K`` when set, else the k in ``RECOMMENDER_COMMUNITIES_K_RANGE``
   (default 3..10, and at most one community per ``MIN_AVERAGE_SIZE`` users) with the best
   silhouette score on a sample of users; every candidate's silhouette is recorded in
   ``run.metrics["community_silhouettes"]``. A 2-D map: PCA of the normalised user vectors; titles
   are projected with the same components (users and titles share the latent space).
2. ``statistics`` — each community is named by its most distinctive genres: the genres of the
   titles its members rated 4 or 5 stars, by lift (share among the community's high ratings /
   share among everyone's), and described by its most distinctive titles. On synthetic users, the
   adjusted Rand index between communities and the generator's hidden personas measures how well
   the model recovers them: ``run.metrics["community_ari"]``.
3. ``storing`` — the communities as ``TasteCommunity`` rows, the map positions in
   ``UserFactor.x/y``, ``TitleFactor.x/y`` and ``TasteCommunity.x/y``, and the projection in
   ``run.metrics["community_projection"]`` so a user folded in later is placed on the same map and
   given the nearest community.
4. ``selectors`` — what the pages read of it; ``map`` draws the map.
"""
