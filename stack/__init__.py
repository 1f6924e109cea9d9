"""The embedded default — one mock per region behind the reference gateway — built in one place.

``aigw up``, ``aigw check``, ``aigw load``, the tests and the benches all start it from here::

    from aigw.stack.plan import StackPlan
    from aigw.stack.run import in_process, in_thread

    with in_process(StackPlan(seed=1, latency="off", admin_token=token)) as endpoints:
        endpoints.gateway, endpoints.mocks, endpoints.keys, endpoints.reset_urls ...

``plan`` says what to start and ``Endpoints`` what its users get (URLs, keys, tokens: plain data);
``configs`` builds the mock and gateway configurations; ``run`` binds the ports, starts the servers on
one event loop (in the foreground, a thread or a child process), waits until they all accept
connections and stops them gateway first.
"""
