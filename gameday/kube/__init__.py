"""Kubernetes in the sandbox: the control plane built from Go modules (:mod:`.build`), its members
under the sandbox supervisor (:mod:`.members`, :mod:`.pki`) and a node agent that runs pods as host
processes (:mod:`.agent`)."""
