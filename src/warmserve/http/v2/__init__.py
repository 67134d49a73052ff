"""The Open Inference Protocol v2 (KServe, Triton, MLServer and Seldon clients).

``request`` reads an inference request (JSON, or the binary tensor extension) into
tensors in their v2 binary form without numpy (``tensors``); ``infer`` is the route's
exchange with the prediction service; ``response`` writes the answer as JSON or binary;
``handlers`` answers health and metadata; ``schema`` documents it all in OpenAPI. Every
error of these routes is ``{"error": "..."}`` (``V2_ERRORS``), the shape v2 clients read.
"""
