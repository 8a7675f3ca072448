-- The trace of the task that handled a rejected mail: the operator's way to what happened.
ALTER TABLE rejections ADD COLUMN trace_id TEXT;
