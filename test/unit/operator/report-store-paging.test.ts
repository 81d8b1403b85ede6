import { MemoryReportStore } from '../../../analyzer/reports/memoryStore.js';
import { reportStorePaging } from './reportStorePaging.js';

reportStorePaging('memory store', async () => new MemoryReportStore());
