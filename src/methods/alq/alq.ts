export interface AlqReport { averageBits: number }
