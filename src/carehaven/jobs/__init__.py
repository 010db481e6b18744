"""Jobs: the web portal's uploads, queued in the control plane for the one writer to submit.

The web process never writes the data plane: it streams a file to the haven's uploads folder
(``uploads.receiving``) and queues a job (``queue.enqueue_submission``). A worker
(``worker.work``, ``carehaven worker``) runs queued jobs one at a time under the haven's writer
lock, through the same ``collection.submit`` the command line calls (ADR 0016).
"""
